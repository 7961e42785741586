"""/metrics of a service: the recorded metrics and the gauges read at scrape time
(common/observability/), parsed as Prometheus parses them."""

import os
import subprocess
import sys
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


MULTIPROCESS_SCRIPT = """
import os, sys
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from common.observability.multiprocess import fold_dead_process

done = Counter("done", "d", ["kind"])
took = Histogram("took_seconds", "t", buckets=(0.1, 1.0))
waiting = Gauge("waiting", "w", multiprocess_mode="livesum")  # as the live subscribers


def totals():
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return sorted(line for line in generate_latest(registry).decode().splitlines()
                  if not line.startswith("#"))


pids = []
for worker in range(3):  # three gunicorn workers that each served and exited
    pid = os.fork()
    if pid == 0:
        done.labels("order").inc(worker + 1)
        took.observe(0.5)
        waiting.set(worker + 1)  # the subscribers it had when it exited
        os._exit(0)
    os.waitpid(pid, 0)
    pids.append(pid)
before = totals()
for pid in pids:
    fold_dead_process(os.environ["PROMETHEUS_MULTIPROC_DIR"], pid)
def summed(lines):
    return [line for line in lines if not line.startswith("waiting")]
assert summed(totals()) == summed(before), (before, totals())
assert "waiting 6.0" in before and "waiting 0.0" in totals(), (before, totals())
own = f"_{os.getpid()}.db"  # the living parent's own files stay
files = os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"])
print(" ".join(sorted(name for name in files if own not in name)))
print("|".join(before))
"""


def test_the_files_of_dead_workers_fold_into_one_with_the_same_sums_and_no_live_gauge(tmp_path):
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", MULTIPROCESS_SCRIPT],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    files, totals = result.stdout.strip().splitlines()
    assert files == "counter_dead.db histogram_dead.db"
    assert 'done_total{kind="order"} 6.0' in totals.split("|")
    assert 'took_seconds_bucket{le="1.0"} 3.0' in totals.split("|")
