"""Recording events and relaying them: rules 1 and 2 of docs/messaging.md."""

import json

import pytest
from django.db import transaction
from kombu import Connection

from common.messaging import MessageType, OutsideTransaction, record_event, relay
from common.messaging.models import OutboxMessage
from common.testing import broker
from common.tests.sampleapp.contracts import SAMPLE_CREATED, SAMPLE_REFUSED


def record(value: int, message_type: MessageType = SAMPLE_CREATED) -> OutboxMessage:
    with transaction.atomic():
        return record_event(message_type, payload={"value": value}, headers={"request_id": "r-1"})


@pytest.mark.django_db(transaction=True)
def test_recording_outside_a_transaction_is_refused():
    with pytest.raises(OutsideTransaction):
        record_event(SAMPLE_CREATED, payload={"value": 1})

    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_with_the_fast_path_off_nothing_runs_on_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        record_event(SAMPLE_CREATED, payload={"value": 1})

    assert callbacks == []  # the sample settings leave publishing to the relay


@pytest.mark.django_db(transaction=True)
def test_an_event_in_a_rolled_back_transaction_is_never_published(samples_queue):
    def business_change_that_fails():
        with transaction.atomic():
            record_event(SAMPLE_CREATED, payload={"value": 1})
            raise RuntimeError("business failure")

    with pytest.raises(RuntimeError):
        business_change_that_fails()

    assert relay.relay_outbox() == 0
    assert not OutboxMessage.objects.exists()
    assert broker.take_messages(samples_queue, timeout=0.3) == []


@pytest.mark.django_db(transaction=True)
def test_a_committed_event_is_published_once_as_a_persistent_json_envelope(samples_queue):
    row = record(7)

    assert relay.relay_outbox() == 1
    assert relay.relay_outbox() == 0  # nothing left: sent rows are not published again

    [message] = broker.take_messages(samples_queue)
    assert message.properties["message_id"] == str(row.id)
    assert message.properties["type"] == "sample.created"
    assert message.properties["delivery_mode"] == 2
    assert message.content_type == "application/json"
    envelope = json.loads(message.body)
    assert envelope["id"] == str(row.id)
    assert envelope["type"] == "sample.created"
    assert envelope["version"] == 1
    assert envelope["source"] == "sample"
    assert envelope["payload"] == {"value": 7}
    assert envelope["headers"] == {"request_id": "r-1"}
    row.refresh_from_db()
    assert row.status == "sent"
    assert row.sent_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_crash_between_publish_and_mark_publishes_again(samples_queue, monkeypatch):
    row = record(1)

    def crash(*args):
        raise SystemExit("worker killed after publishing, before the mark committed")

    monkeypatch.setattr(relay, "_record_outcome", crash)  # runs once the broker confirmed
    with pytest.raises(SystemExit):
        relay.relay_outbox()
    row.refresh_from_db()
    assert row.status == "pending"  # the claim rolled back with the crash
    monkeypatch.undo()

    assert relay.relay_outbox() == 1

    copies = broker.take_messages(samples_queue)
    assert [m.properties["message_id"] for m in copies] == [str(row.id)] * 2
    row.refresh_from_db()
    assert row.status == "sent"


@pytest.mark.django_db(transaction=True)
def test_the_relay_recovers_when_the_broker_drops_its_connection(samples_queue):
    import os

    rows = [record(value) for value in range(30)]
    assert relay.relay_outbox(batch_size=10, max_batches=1) == 10  # connection now open

    assert broker.close_broker_connections_of(os.getpid()) >= 1

    published = 0
    for _ in range(3):  # the first run finds the dead connection, a later one reconnects
        published += relay.relay_outbox()
    assert published == 20
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"sent"}
    # An outage spends no attempt: the rows never came near being parked.
    assert set(OutboxMessage.objects.values_list("attempts", flat=True)) == {0}
    received = {m.properties["message_id"] for m in broker.take_messages(samples_queue)}
    assert received == {str(row.id) for row in rows}


@pytest.mark.django_db(transaction=True)
def test_a_message_the_broker_refuses_is_retried_then_parked(refusing_queue, samples_queue):
    refused = record(1, SAMPLE_REFUSED)
    accepted = record(2)

    for _ in range(3):  # MAX_ATTEMPTS in the test settings
        relay.relay_outbox()
        OutboxMessage.objects.filter(status="pending").update(next_attempt_at=refused.created_at)

    refused.refresh_from_db()
    assert refused.status == "failed"
    assert refused.attempts == 3
    assert "nack" in refused.last_error
    accepted.refresh_from_db()
    assert accepted.status == "sent"  # the refusal did not hold up the other message


@pytest.mark.django_db(transaction=True)
def test_a_broker_outage_keeps_rows_pending_without_spending_attempts(monkeypatch):
    from common.messaging.broker import publisher

    record(1)
    monkeypatch.setattr(
        "common.messaging.broker.current_app.connection_for_write",
        lambda **kwargs: Connection("amqp://guest:guest@127.0.0.1:1//", connect_timeout=1),
    )
    publisher.reset()

    assert relay.relay_outbox() == 0

    row = OutboxMessage.objects.get()
    assert (row.status, row.attempts) == ("pending", 0)
    monkeypatch.undo()
    assert relay.relay_outbox() == 1


@pytest.mark.django_db(transaction=True)
def test_a_message_no_queue_takes_is_not_marked_sent_and_goes_out_once_the_queue_is_back(
    samples_queue,
):
    record(1)
    assert relay.relay_outbox() == 1  # the relay's connection has declared the queue
    broker.delete(samples_queue)  # ... and an operator deletes it behind its back

    lost = record(2)
    assert relay.relay_outbox() == 0

    lost.refresh_from_db()
    assert (lost.status, lost.attempts) == ("pending", 1)
    assert "returned" in lost.last_error
    OutboxMessage.objects.filter(pk=lost.pk).update(next_attempt_at=lost.created_at)
    assert relay.relay_outbox() == 1  # a new connection declares the queue again
    [message] = broker.take_messages(samples_queue)
    assert message.properties["message_id"] == str(lost.id)
