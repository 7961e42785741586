"""The whole loop in a real Celery worker process: wake-ups, relay, the consumer bootstep,
the drain, and beat's sweep; also when the broker cuts the worker's connections."""

import time

import pytest
from django.db import connection, transaction

from common.messaging import record_event
from common.messaging.models import InboxMessage, OutboxMessage
from common.testing import broker
from common.testing.worker import celery_worker
from common.tests.sampleapp.contracts import SAMPLE_CREATED
from common.tests.sampleapp.models import Effect

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker(samples_queue, tmp_path):
    with celery_worker(
        app="common.tests.celery",
        settings_module="common.tests.settings",
        database_env="COMMON_DATABASE_URL",
        log_dir=tmp_path,
    ) as process:
        yield process


def record_many(values) -> None:
    for value in values:
        with transaction.atomic():
            record_event(SAMPLE_CREATED, payload={"value": value})


def all_handled(count: int) -> bool:
    return (
        Effect.objects.count() >= count
        and not InboxMessage.objects.filter(status="pending").exists()
    )


def test_events_flow_through_a_real_worker_exactly_once(worker):
    record_many(range(100))

    broker.wait_until(lambda: all_handled(100), timeout=60, message="100 events handled")

    assert sorted(Effect.objects.values_list("value", flat=True)) == list(range(100))
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"sent"}
    assert InboxMessage.objects.filter(status="done").count() == 100


def test_nothing_is_lost_when_the_broker_cuts_the_workers_connections(worker):
    record_many(range(150))
    assert broker.close_broker_connections_of(worker.pid) >= 1  # mid-stream
    record_many(range(150, 300))

    broker.wait_until(lambda: all_handled(300), timeout=120, message="300 events handled")

    assert sorted(Effect.objects.values_list("value", flat=True)) == list(range(300))
    assert worker.poll() is None  # the worker reconnected instead of dying


def test_garbage_on_the_queue_is_parked_and_the_worker_keeps_consuming(worker, samples_queue):
    broker.publish_raw(samples_queue, b"\xde\xad\xbe\xef")
    record_many([42])

    broker.wait_until(lambda: all_handled(1), timeout=60, message="the good event handled")

    assert InboxMessage.objects.get(status="failed").raw_body
    assert Effect.objects.get().value == 42
    assert worker.poll() is None


def database_sessions_so_far() -> int:
    """Sessions ever opened to the test database (PostgreSQL's own count, flushed by each
    backend within about a second)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_beats_sweeps_reuse_their_database_connection(samples_queue, tmp_path):
    """Two sweeps a second (SWEEP_INTERVAL_SECONDS 0.5) on one pool process, with the
    deployed CONN_MAX_AGE: Celery's Django fix-up would open a session for each."""
    with celery_worker(
        app="common.tests.celery",
        settings_module="common.tests.settings",
        database_env="COMMON_DATABASE_URL",
        log_dir=tmp_path,
        concurrency=1,
        extra_env={"DJANGO_CONN_MAX_AGE": "60"},
    ):
        record_many([1])
        broker.wait_until(lambda: all_handled(1), timeout=60, message="the event handled")
        time.sleep(2)  # the sweeps so far have connected, and their counts are flushed
        before = database_sessions_so_far()
        time.sleep(6)  # about 24 sweeps
        opened = database_sessions_so_far() - before

    assert opened <= 1  # a connection that reached CONN_MAX_AGE may be replaced once
