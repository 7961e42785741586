"""Publishing after commit by the worker (MESSAGING PUBLISH_AFTER_COMMIT_BY "worker"): the
transaction sends a NOTIFY, the worker's listener relays. Real PostgreSQL, RabbitMQ and
Celery workers; beat never runs here, so only the listener can publish."""

import os
import signal
import time

import psycopg
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from common.messaging import publishing_together, record_event
from common.messaging.conf import MessagingSettings, messaging_settings
from common.messaging.listener import CHANNEL, listener_connection_params
from common.messaging.models import OutboxMessage
from common.messaging.outbox import PublishAfterCommit
from common.testing import broker
from common.testing.worker import celery_worker
from common.tests.sampleapp.contracts import SAMPLE_CREATED

LISTENER_APPLICATION = "sample-outbox-listener"  # listener_connection_params(): SERVICE sample


@pytest.fixture
def by_the_worker(settings):
    settings.MESSAGING = {
        **settings.MESSAGING,
        "PUBLISH_AFTER_COMMIT": True,
        "PUBLISH_AFTER_COMMIT_BY": "worker",
    }


@pytest.fixture
def listening(by_the_worker):
    """A connection of the test's own that LISTENs as the worker's listener does."""
    with psycopg.connect(**listener_connection_params()) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        yield listener


def notifications(listener: psycopg.Connection, timeout: float, until: int | None = None) -> list:
    """What arrives within `timeout` s (or as soon as `until` arrived)."""
    return list(listener.notifies(timeout=timeout, stop_after=until))


def record(value: int) -> OutboxMessage:
    with transaction.atomic():
        return record_event(SAMPLE_CREATED, payload={"value": value})


def test_an_unknown_publisher_after_commit_is_refused(settings):
    settings.MESSAGING = {**settings.MESSAGING, "PUBLISH_AFTER_COMMIT_BY": "beat"}

    with pytest.raises(ImproperlyConfigured, match="PUBLISH_AFTER_COMMIT_BY"):
        messaging_settings()


def test_the_worker_publishes_by_default():
    # The design measured cheaper (docs/performance.md); the embedded mode and PgBouncer
    # fall back to the committer (tests below, tests/test_pgbouncer.py).
    assert MessagingSettings().PUBLISH_AFTER_COMMIT_BY == "worker"


@pytest.mark.django_db(transaction=True)
def test_the_notification_arrives_on_commit_and_nothing_runs_on_commit_here(listening):
    with transaction.atomic():
        record_event(SAMPLE_CREATED, payload={"value": 1})
        assert connection.run_on_commit == []  # the committer publishes nothing
        assert notifications(listening, timeout=0.2) == []  # not before the commit

    [notified] = notifications(listening, timeout=2, until=1)
    assert notified.channel == CHANNEL
    assert notifications(listening, timeout=0.2) == []


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_notifies_nobody(listening):
    with transaction.atomic():
        record_event(SAMPLE_CREATED, payload={"value": 1})
        transaction.set_rollback(True)  # the business change failed

    assert notifications(listening, timeout=0.5) == []
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_events_recorded_together_are_published_by_their_committer_as_one_batch(listening):
    # A worker's own batch (its consumer's, its drain's): no wake-up of the listener.
    with (
        CaptureQueriesContext(connection) as queries,
        transaction.atomic(),
    ):
        with publishing_together():
            rows = [record_event(SAMPLE_CREATED, payload={"value": v}) for v in range(3)]
        assert connection.run_on_commit[-1][1] == PublishAfterCommit(tuple(r.id for r in rows))

    assert not any("NOTIFY" in q["sql"] for q in queries)
    assert notifications(listening, timeout=0.5) == []


@pytest.mark.django_db
def test_the_embedded_mode_has_no_notify_so_the_committer_publishes(
    by_the_worker, settings, django_capture_on_commit_callbacks
):
    settings.EMBEDDED_DATABASE = True  # SQLite's: the database here is still PostgreSQL
    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks() as callbacks,
    ):
        row = record_event(SAMPLE_CREATED, payload={"value": 1})

    assert callbacks == [PublishAfterCommit((row.id,))]
    assert not any("NOTIFY" in q["sql"] for q in queries)


# With real workers.


@pytest.fixture(scope="module")
def worker_logs(tmp_path_factory):
    return tmp_path_factory.mktemp("listener-workers")


def listening_worker(log_dir, name: str):
    return celery_worker(
        app="common.tests.celery",
        settings_module="common.tests.settings_worker_publishes",
        database_env="COMMON_DATABASE_URL",
        log_dir=log_dir,
        name=name,
        beat=False,  # only the listener publishes
        concurrency=1,
    )


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, worker_logs):
    with django_db_blocker.unblock(), listening_worker(worker_logs, "listening") as process:
        yield process


def listener_backends() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
            "AND datname = current_database()",
            [LISTENER_APPLICATION],
        )
        return [pid for (pid,) in cursor.fetchall()]


def wait_for_listeners(count: int) -> list[int]:
    broker.wait_until(
        lambda: len(listener_backends()) == count, timeout=10, message=f"{count} listener(s)"
    )
    return listener_backends()


def published_ids(queue: str, count: int, timeout: float = 5) -> list[str]:
    """The message ids delivered on the queue, once `count` arrived (or the time is up),
    and whatever else arrives within a moment after them."""
    taken: list[str] = []
    deadline = time.monotonic() + timeout
    while len(taken) < count and time.monotonic() < deadline:
        taken += [m.properties["message_id"] for m in broker.take_messages(queue, timeout=0.2)]
    taken += [m.properties["message_id"] for m in broker.take_messages(queue, timeout=0.5)]
    return taken


@pytest.mark.django_db(transaction=True)
def test_a_committed_event_is_published_by_the_workers_listener(
    worker, by_the_worker, samples_queue
):
    wait_for_listeners(1)
    started = time.monotonic()
    with transaction.atomic():
        row = record_event(SAMPLE_CREATED, payload={"value": 1})
        assert connection.run_on_commit == []

    assert published_ids(samples_queue, 1, timeout=3) == [str(row.id)]
    assert time.monotonic() - started < 3
    row.refresh_from_db()
    assert row.status == OutboxMessage.Status.SENT


@pytest.mark.django_db(transaction=True)
def test_the_listener_reconnects_and_publishes_what_was_recorded_meanwhile(
    worker, worker_logs, by_the_worker, samples_queue
):
    [backend] = wait_for_listeners(1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
    wait_for_listeners(0)  # gone; the listener waits RECONNECT_FIRST_SECONDS (0.5 s)
    meanwhile = record(2)  # its NOTIFY reaches nobody
    assert listener_backends() == []  # (recorded while it was away indeed)

    [reconnected] = wait_for_listeners(1)
    assert reconnected != backend
    assert published_ids(samples_queue, 1) == [str(meanwhile.id)]
    later = record(3)
    assert published_ids(samples_queue, 1) == [str(later.id)]
    assert b"Outbox listener: connection lost" in (worker_logs / "listening.log").read_bytes()


@pytest.mark.django_db(transaction=True)
def test_two_workers_listening_on_one_database_publish_each_event_once(
    worker, worker_logs, by_the_worker, samples_queue
):
    with listening_worker(worker_logs, "second") as second:
        wait_for_listeners(2)
        rows = [record(value) for value in range(100)]

        delivered = published_ids(samples_queue, len(rows), timeout=10)

        # TERM stops a worker whose listener is waiting, promptly (its thread is no hang).
        os.killpg(second.pid, signal.SIGTERM)
        assert second.wait(timeout=10) == 0

    assert sorted(delivered) == sorted(str(row.id) for row in rows)  # each once
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"sent"}
