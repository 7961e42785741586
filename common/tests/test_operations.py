"""What operators use: the admin's search and actions, cleanup, and the backlog report."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from common.messaging import record_event
from common.messaging.backlog import backlog
from common.messaging.cleanup import delete_old_messages
from common.messaging.consumer import store_incoming
from common.messaging.models import InboxMessage, OutboxMessage
from common.tests.sampleapp.contracts import SAMPLE_CREATED

pytestmark = pytest.mark.django_db


def outbox_row(**fields) -> OutboxMessage:
    with transaction.atomic():
        row = record_event(SAMPLE_CREATED, payload={"value": 1, "order_id": "ord-42"})
    OutboxMessage.objects.filter(pk=row.pk).update(**fields)
    row.refresh_from_db()
    return row


def inbox_row(message_id: str, **fields) -> InboxMessage:
    body = json.dumps(
        {"id": message_id, "type": "sample.created", "payload": {"value": 2}}
    ).encode()
    store_incoming(body=body, message_id_property=None, queue="q")
    InboxMessage.objects.filter(message_id=message_id).update(**fields)
    return InboxMessage.objects.get(message_id=message_id)


def test_admin_finds_a_message_by_an_id_inside_its_payload(admin_client):
    row = outbox_row()

    page = admin_client.get("/admin/messaging/outboxmessage/", {"q": "ord-42"})

    assert page.status_code == 200
    assert str(row.id) in page.content.decode()
    assert (
        admin_client.get("/admin/messaging/outboxmessage/", {"q": "ord-99"})
        .context["cl"]
        .result_count
        == 0
    )


def test_admin_shows_a_readable_payload(admin_client):
    row = outbox_row()

    page = admin_client.get(f"/admin/messaging/outboxmessage/{row.pk}/change/")

    assert page.status_code == 200
    assert "&quot;order_id&quot;: &quot;ord-42&quot;" in page.content.decode()


def test_admin_requeues_failed_messages(admin_client):
    failed = inbox_row("f-1", status="failed", attempts=8, last_error="boom")
    done = inbox_row("d-1", status="done")

    admin_client.post(
        "/admin/messaging/inboxmessage/",
        {"action": "requeue_failed", "_selected_action": [failed.pk, done.pk]},
    )

    failed.refresh_from_db()
    done.refresh_from_db()
    assert (failed.status, failed.attempts) == ("pending", 0)
    assert failed.next_attempt_at <= timezone.now()
    assert done.status == "done"


def test_admin_retry_now_skips_the_backoff_of_pending_rows(admin_client):
    later = timezone.now() + timedelta(hours=1)
    row = outbox_row(next_attempt_at=later, attempts=2)

    admin_client.post(
        "/admin/messaging/outboxmessage/",
        {"action": "retry_now", "_selected_action": [row.pk]},
    )

    row.refresh_from_db()
    assert row.next_attempt_at <= timezone.now()
    assert row.attempts == 2


def test_cleanup_deletes_only_old_sent_and_done_rows():
    old = timezone.now() - timedelta(days=8)
    recent = timezone.now() - timedelta(days=1)
    old_sent = outbox_row(status="sent", sent_at=old)
    kept_outbox = [
        outbox_row(status="sent", sent_at=recent),
        outbox_row(status="failed"),
        outbox_row(),
    ]
    inbox_row("old-done", status="done", processed_at=old)
    inbox_row("old-failed", status="failed", received_at=old)
    inbox_row("new-done", status="done", processed_at=recent)

    assert delete_old_messages() == {"outbox": 1, "inbox": 1}

    assert not OutboxMessage.objects.filter(pk=old_sent.pk).exists()
    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {r.pk for r in kept_outbox}
    assert set(InboxMessage.objects.values_list("message_id", flat=True)) == {
        "old-failed",
        "new-done",
    }


def test_backlog_reports_pending_failed_and_the_oldest_age(capsys):
    outbox_row(created_at=timezone.now() - timedelta(seconds=90))
    outbox_row(status="failed")
    inbox_row("i-1", status="done")

    report = backlog()
    assert report["outbox"]["pending"] == 1
    assert report["outbox"]["failed"] == 1
    assert 89 < report["outbox"]["oldest_pending_age_seconds"] < 120
    assert report["inbox"] == {"pending": 0, "failed": 0, "oldest_pending_age_seconds": None}

    call_command("messaging_backlog")
    table = capsys.readouterr().out
    assert "outbox" in table
    assert "inbox" in table
    call_command("messaging_backlog", "--json")
    assert json.loads(capsys.readouterr().out)["outbox"]["failed"] == 1
