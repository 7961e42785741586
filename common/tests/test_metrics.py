"""/metrics of a service: the recorded metrics and the gauges read at scrape time
(common/observability/), parsed as Prometheus parses them."""

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from common.messaging.models import InboxMessage, OutboxMessage
from common.observability import metrics, scrape_time


def scrape(client) -> dict[str, float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
        if not sample.labels
    }


def outbox(status: str, age_seconds: float = 0) -> None:
    OutboxMessage.objects.create(
        type="sample.created",
        destination="samples",
        payload={},
        status=status,
        created_at=timezone.now() - timedelta(seconds=age_seconds),
    )


def inbox(status: str, age_seconds: float = 0) -> None:
    InboxMessage.objects.create(
        message_id=f"m-{InboxMessage.objects.count()}",
        type="sample.created",
        payload={},
        status=status,
        received_at=timezone.now() - timedelta(seconds=age_seconds),
    )


@pytest.mark.django_db
def test_the_messaging_gauges_count_the_rows_as_they_are(client):
    for age in (5, 42):
        outbox("pending", age)
    outbox("sent", 3600)  # old, but sent: no backlog
    outbox("failed", 100)
    for age in (1, 2, 90):
        inbox("pending", age)
    inbox("done", 3600)
    for _ in range(2):
        inbox("failed")

    figures = scrape(client)

    assert figures["shop_outbox_pending"] == 2
    assert 42 <= figures["shop_outbox_oldest_pending_seconds"] < 50
    assert figures["shop_outbox_failed"] == 1
    assert figures["shop_inbox_pending"] == 3
    assert 90 <= figures["shop_inbox_oldest_pending_seconds"] < 100
    assert figures["shop_inbox_failed"] == 2
    assert figures["shop_database_up"] == 1


@pytest.mark.django_db
def test_an_empty_backlog_is_zero_not_absent(client):
    figures = scrape(client)

    assert figures["shop_outbox_pending"] == figures["shop_outbox_oldest_pending_seconds"] == 0
    assert figures["shop_inbox_pending"] == figures["shop_inbox_oldest_pending_seconds"] == 0


@pytest.mark.django_db
def test_a_database_that_cannot_be_read_fails_no_scrape(client):
    def unreadable():
        raise OperationalError("connection refused")
        yield  # a reader is a generator

    metrics.deposits.inc()
    scrape_time.scrape_time_gauges(unreadable)
    try:
        figures = scrape(client)
    finally:
        scrape_time._readers.remove(unreadable)

    assert figures["shop_database_up"] == 0
    assert "shop_outbox_pending" not in figures
    assert figures["shop_deposits_total"] >= 1  # what the processes recorded is still there
