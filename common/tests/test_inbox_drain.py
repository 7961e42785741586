"""Receiving and handling: rules 3, 6 and 7 of docs/messaging.md, against the real broker."""

import json
import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from kombu import Consumer

from common.messaging import consumer, drain, record_event, registry, relay
from common.messaging.consumer import InboxReceiver, store_incoming
from common.messaging.envelope import Envelope
from common.messaging.models import InboxMessage, OutboxMessage
from common.testing import broker
from common.testing.concurrency import run_concurrently
from common.tests.sampleapp.contracts import SAMPLE_CREATED, SAMPLE_FUTURE
from common.tests.sampleapp.handlers import record_effect
from common.tests.sampleapp.models import Effect


def envelope(value: int, *, message_id: str | None = None, type: str = "sample.created"):
    return Envelope(
        id=message_id or str(uuid.uuid4()), type=type, version=1, payload={"value": value}
    ).to_body()


def consume_into_inbox(queue: str, *, idle_timeout: float = 0.5) -> int:
    """Run the worker's consumer callback over everything on the queue; returns deliveries."""
    deliveries = 0
    with broker.broker_connection() as connection:
        channel = connection.default_channel
        channel.auto_decode = False  # as in the worker's consumer bootstep
        consumer = Consumer(
            channel,
            queues=[broker.durable_queue(queue)],
            on_message=InboxReceiver(channel),
            prefetch_count=100,
        )
        with consumer:
            while True:
                try:
                    connection.drain_events(timeout=idle_timeout)
                except TimeoutError:
                    break
                deliveries += 1
    return deliveries


@pytest.mark.django_db(transaction=True)
def test_duplicates_are_stored_once_handled_once_and_all_acked(samples_queue):
    body = envelope(5, message_id="m-1")
    for _ in range(3):
        broker.publish_raw(samples_queue, body, message_id="m-1")

    assert consume_into_inbox(samples_queue) == 3
    assert drain.drain_inbox() == 1
    assert drain.drain_inbox() == 0

    assert InboxMessage.objects.get().status == "done"
    assert list(Effect.objects.values_list("message_id", "value")) == [("m-1", 5)]
    # Everything was acked: nothing is left on the queue, nothing comes back.
    assert broker.take_messages(samples_queue, timeout=0.3) == []


@pytest.mark.django_db(transaction=True)
def test_garbage_bytes_are_acked_and_parked_and_the_consumer_goes_on(samples_queue):
    broker.publish_raw(samples_queue, b"\x00\xff not json at all")
    broker.publish_raw(samples_queue, envelope(1, message_id="good"), message_id="good")

    assert consume_into_inbox(samples_queue) == 2
    drain.drain_inbox()

    parked = InboxMessage.objects.get(status="failed")
    assert parked.message_id.startswith("malformed-")
    assert "not JSON" in parked.last_error
    assert "not json at all" in parked.raw_body
    assert Effect.objects.get().message_id == "good"
    assert broker.take_messages(samples_queue, timeout=0.3) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[1, 2]", "not a JSON object"),
        (b'{"type": "sample.created", "payload": {}}', "no message id"),
        (b'{"id": "x1", "payload": {}}', "no message type"),
        (b'{"id": "x2", "type": "sample.created", "payload": []}', "payload is not"),
        (b'{"id": "x3", "type": "sample.created", "version": true, "payload": {}}', "version"),
        (b'{"id": "x\\u0000", "type": "sample.created", "payload": {}}', "no message id"),
        (b'{"id": "\\ud800", "type": "sample.created", "payload": {}}', "not JSON in UTF-8"),
        (b'{"id": "x5", "type": "sample.created", "payload": {"v": "\\u0000"}}', "refused"),
    ],
    ids=["array", "no-id", "no-type", "payload-array", "bool-version", "nul", "nul-id",
         "surrogate-id"],
)  # fmt: skip
@pytest.mark.parametrize("handle", [False, True], ids=["stored", "handled-on-receipt"])
def test_malformed_messages_are_parked_once_with_the_reason(body, reason, handle):
    for _ in range(2):  # a redelivery of the same bad message is not parked twice
        assert store_incoming(body=body, message_id_property=None, queue="q", handle=handle) is None

    parked = InboxMessage.objects.get()
    assert parked.status == "failed"
    assert reason in parked.last_error
    assert parked.raw_body


@pytest.mark.django_db
def test_a_handler_effect_and_the_done_mark_commit_together():
    store_incoming(body=envelope(3, message_id="m"), message_id_property=None, queue="q")

    assert drain.drain_inbox() == 1

    row = InboxMessage.objects.get()
    assert (row.status, row.attempts) == ("done", 1)
    assert row.processed_at is not None
    assert Effect.objects.get().value == 3


@pytest.mark.django_db
def test_a_poison_message_is_retried_then_parked_and_never_blocks_the_others():
    store_incoming(body=envelope(0, message_id="poison", type="sample.poison"),
                   message_id_property=None, queue="q")  # fmt: skip
    for value in (1, 2):
        store_incoming(body=envelope(value), message_id_property=None, queue="q")

    for _ in range(3):  # MAX_ATTEMPTS in the test settings
        drain.drain_inbox()
        InboxMessage.objects.filter(status="pending").update(next_attempt_at="2000-01-01T00:00Z")

    poison = InboxMessage.objects.get(message_id="poison")
    assert poison.status == "failed"
    assert poison.attempts == 3
    assert "poison message" in poison.last_error
    # The handler's write was rolled back with each failed attempt; the others were handled.
    assert sorted(Effect.objects.values_list("value", flat=True)) == [1, 2]


@pytest.mark.django_db
def test_a_failed_attempt_backs_off_exponentially(settings):
    settings.MESSAGING = {
        **settings.MESSAGING,
        "BACKOFF_BASE_SECONDS": 60,
        "BACKOFF_MAX_SECONDS": 3600,
        "MAX_ATTEMPTS": 5,
    }
    store_incoming(body=envelope(0, type="sample.poison"), message_id_property=None, queue="q")

    delays = []
    for _ in range(3):
        before = timezone.now()
        drain.drain_inbox()
        row = InboxMessage.objects.get()
        delays.append((row.next_attempt_at - before).total_seconds())
        InboxMessage.objects.update(next_attempt_at=before)  # let the next attempt run now

    assert row.attempts == 3
    # 60 s, 120 s, 240 s, each with jitter of x0.5-1.0
    assert 30 <= delays[0] <= 61
    assert 60 <= delays[1] <= 121
    assert 120 <= delays[2] <= 241


@pytest.mark.django_db
def test_a_message_not_yet_due_is_not_taken():
    store_incoming(body=envelope(1), message_id_property=None, queue="q")
    InboxMessage.objects.update(next_attempt_at=timezone.now() + timedelta(minutes=5))

    assert drain.drain_inbox() == 0
    assert not Effect.objects.exists()


@pytest.mark.django_db
def test_a_message_without_a_handler_keeps_its_envelope_and_can_be_replayed(monkeypatch):
    body = envelope(9, message_id="later", type="sample.future")
    assert store_incoming(body=body, message_id_property="later", queue="q") is None
    parked = InboxMessage.objects.get()
    assert (parked.status, parked.type, parked.payload) == ("failed", "sample.future", {"value": 9})
    assert "no handler" in parked.last_error

    # A release adds the handler; the operator requeues the failed message.
    monkeypatch.setitem(registry._handlers, SAMPLE_FUTURE.name, record_effect)
    InboxMessage.objects.update(status="pending", attempts=0)
    assert drain.drain_inbox() == 1
    assert Effect.objects.get().value == 9


@pytest.mark.django_db(transaction=True)
def test_a_message_is_requeued_not_acked_while_the_database_fails(samples_queue, monkeypatch):
    from django.db import OperationalError

    real_store = consumer.take
    calls = []

    def database_down_twice(**kwargs):
        calls.append(kwargs["message_id_property"])
        if len(calls) <= 2:  # the batch, then the message alone
            raise OperationalError("the database went away")
        return real_store(**kwargs)

    monkeypatch.setattr(consumer, "take", database_down_twice)
    monkeypatch.setattr(consumer, "DATABASE_RETRY_PAUSE_SECONDS", 0)
    broker.publish_raw(samples_queue, envelope(4, message_id="m-4"), message_id="m-4")

    assert consume_into_inbox(samples_queue) == 2  # delivered again after the failure

    assert calls == ["m-4", "m-4", "m-4"]
    assert InboxMessage.objects.get().message_id == "m-4"
    assert broker.take_messages(samples_queue, timeout=0.3) == []


@pytest.mark.django_db(transaction=True)
def test_an_unexpected_error_parks_the_message_and_the_consumer_goes_on(samples_queue, monkeypatch):
    def bug(**kwargs):
        raise UnicodeEncodeError("utf-8", "x", 0, 1, "surrogates not allowed")

    monkeypatch.setattr(consumer, "take", bug)
    broker.publish_raw(samples_queue, b'{"id": "odd"}', message_id="odd")

    assert consume_into_inbox(samples_queue) == 1

    parked = InboxMessage.objects.get()
    assert parked.status == "failed"
    assert "surrogates" in parked.last_error
    assert broker.take_messages(samples_queue, timeout=0.3) == []


@pytest.mark.django_db(transaction=True)
def test_two_relays_and_two_drains_over_thousands_of_rows_apply_each_effect_once(
    samples_queue,
):
    count = 2000
    with transaction.atomic():
        for value in range(count):
            record_event(SAMPLE_CREATED, payload={"value": value})

    def relay_then_consume(worker: int) -> int:
        # Two relays race over the outbox, then both consume what they published.
        published = relay.relay_outbox(batch_size=50)
        consume_into_inbox(samples_queue)
        return published

    published = run_concurrently(relay_then_consume, 2)
    assert sum(published) == count
    assert all(p > 0 for p in published)  # both relays took part

    handled = run_concurrently(lambda _: drain.drain_inbox(batch_size=50), 2)
    assert sum(handled) == count

    assert not OutboxMessage.objects.exclude(status="sent").exists()
    assert InboxMessage.objects.filter(status="done").count() == count
    assert Effect.objects.count() == count
    assert sorted(Effect.objects.values_list("value", flat=True)) == list(range(count))
    assert broker.take_messages(samples_queue, timeout=0.3) == []


def test_envelope_round_trip_keeps_every_field():
    from common.messaging.envelope import parse_body

    original = Envelope(
        id="id-1", type="t", version=2, payload={"a": [1]}, source="s", occurred_at="now",
        headers={"request_id": "r"},
    )  # fmt: skip

    assert parse_body(original.to_body()) == original
    assert json.loads(original.to_body())["payload"] == {"a": [1]}
