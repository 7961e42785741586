"""The fast path (MESSAGING PUBLISH_AFTER_COMMIT and HANDLE_ON_RECEIPT, on by default):
an event leaves right after its commit from the process that committed it, and a received
message is handled as soon as it is stored; whatever fails there is left, untouched or
with its attempt recorded, to the sweeps. The other tests of this package drive the relay
and the drain themselves with the fast path off."""

import json
import os
import time

import pytest
from django.db import transaction
from kombu import Consumer

from common.messaging import consumer, drain, publishing_together, record_event, relay
from common.messaging.broker import BatchOutcome, Outgoing, publisher
from common.messaging.models import InboxMessage, OutboxMessage
from common.messaging.outbox import PublishAfterCommit
from common.testing import broker
from common.tests.sampleapp.contracts import SAMPLE_CREATED, SAMPLE_REFUSED
from common.tests.sampleapp.models import Effect
from common.tests.test_inbox_drain import consume_into_inbox, envelope


@pytest.fixture
def fast_path(settings):
    settings.MESSAGING = {
        **settings.MESSAGING,
        "PUBLISH_AFTER_COMMIT": True,
        "PUBLISH_AFTER_COMMIT_BY": "committer",  # the worker's: test_outbox_listener.py
        "HANDLE_ON_RECEIPT": True,
    }


def record(value: int) -> OutboxMessage:
    with transaction.atomic():
        return record_event(SAMPLE_CREATED, payload={"value": value})


@pytest.mark.django_db
def test_an_event_is_published_on_commit_only(fast_path, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        row = record_event(SAMPLE_CREATED, payload={"value": 1})

    assert callbacks == [PublishAfterCommit((row.id,))]


@pytest.mark.django_db
def test_events_recorded_together_are_published_as_one_batch(
    fast_path, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks() as callbacks,
        transaction.atomic(),
        publishing_together(),
    ):
        first = record_event(SAMPLE_CREATED, payload={"value": 1})
        second = record_event(SAMPLE_CREATED, payload={"value": 2})

    assert callbacks == [PublishAfterCommit((first.id, second.id))]


@pytest.mark.django_db(transaction=True)
def test_right_after_commit_the_committing_process_publishes_it(fast_path, samples_queue):
    row = record(5)  # no relay task, no sweep: the commit's callback published it

    row.refresh_from_db()
    assert row.status == OutboxMessage.Status.SENT
    [message] = broker.take_messages(samples_queue)
    assert json.loads(message.body)["id"] == str(row.id)


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_the_commit_stands_and_the_sweep_publishes(
    fast_path, monkeypatch, samples_queue
):
    monkeypatch.setattr(
        relay.publisher, "publish_batch", lambda *a, **k: BatchOutcome(outage="broker down")
    )
    row = record(6)  # the callback fails quietly: the business change is committed

    row.refresh_from_db()
    assert (row.status, row.attempts, row.sent_at) == (OutboxMessage.Status.PENDING, 0, None)
    monkeypatch.undo()
    assert relay.relay_outbox() == 1
    assert len(broker.take_messages(samples_queue)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_message_the_broker_refuses_right_after_commit_spends_an_attempt_and_waits(
    fast_path, refusing_queue, samples_queue
):
    # A real nack: the refusals queue's policy makes RabbitMQ refuse every publish to it.
    with transaction.atomic(), publishing_together():
        refused = record_event(SAMPLE_REFUSED, payload={"value": 7})
        accepted = record_event(SAMPLE_CREATED, payload={"value": 8})

    refused.refresh_from_db()
    accepted.refresh_from_db()
    assert (refused.status, refused.attempts, refused.sent_at) == ("pending", 1, None)
    assert "nack" in refused.last_error
    assert refused.next_attempt_at > refused.created_at  # backed off, for the sweep
    assert accepted.status == OutboxMessage.Status.SENT  # the batch's other message went
    assert [m.properties["message_id"] for m in broker.take_messages(samples_queue)] == [
        str(accepted.id)
    ]


@pytest.mark.django_db(transaction=True)
def test_after_commit_only_the_confirmed_rows_stay_marked_sent(fast_path, monkeypatch):
    def mixed(messages, **kwargs):
        confirmed, refused, _unanswered = (m.message_id for m in messages)
        return BatchOutcome(confirmed=[confirmed], rejected={refused: "nack"}, outage="timeout")

    monkeypatch.setattr(relay.publisher, "publish_batch", mixed)
    with transaction.atomic(), publishing_together():
        rows = [record_event(SAMPLE_CREATED, payload={"value": n}) for n in range(3)]

    confirmed, refused, unanswered = (OutboxMessage.objects.get(pk=row.pk) for row in rows)
    assert confirmed.status == OutboxMessage.Status.SENT
    assert confirmed.sent_at is not None
    assert (refused.status, refused.attempts, refused.sent_at) == ("pending", 1, None)
    assert (unanswered.status, unanswered.attempts, unanswered.sent_at) == ("pending", 0, None)


@pytest.mark.django_db(transaction=True)
def test_a_received_message_is_handled_at_once_and_its_duplicates_never(fast_path, samples_queue):
    for _ in range(3):
        broker.publish_raw(samples_queue, envelope(7, message_id="m-7"), message_id="m-7")

    assert consume_into_inbox(samples_queue) == 3  # no drain run at all

    assert InboxMessage.objects.get().status == InboxMessage.Status.DONE
    assert list(Effect.objects.values_list("message_id", "value")) == [("m-7", 7)]


class LoopTurns:
    """Stands in for the worker's event loop: call_soon() callbacks run at turn()."""

    def __init__(self):
        self.callbacks = []

    def call_soon(self, callback):
        self.callbacks.append(callback)

    def turn(self):
        callbacks, self.callbacks = self.callbacks, []
        for callback in callbacks:
            callback()


def consume_in_one_batch(queue: str, count: int) -> int:
    """Deliver `count` messages to an InboxReceiver, then let its loop turn: one batch."""
    loop = LoopTurns()
    with broker.broker_connection() as connection:
        channel = connection.default_channel
        channel.auto_decode = False
        receiver = consumer.InboxReceiver(channel)
        receiver.hub = loop
        with Consumer(channel, queues=[broker.durable_queue(queue)], on_message=receiver):
            for _ in range(count):
                connection.drain_events(timeout=5)
            delivered = len(receiver.batch)
            loop.turn()
    return delivered


@pytest.mark.django_db(transaction=True)
def test_deliveries_that_arrive_together_are_stored_acked_and_handled_as_one_batch(
    fast_path, samples_queue, monkeypatch
):
    batches = []
    process_batch = consumer.process_batch
    monkeypatch.setattr(
        consumer,
        "process_batch",
        lambda messages: (
            batches.append([m.properties["message_id"] for m in messages])
            or process_batch(messages)
        ),
    )
    for value in range(5):
        message_id = f"m-{value}"
        broker.publish_raw(
            samples_queue, envelope(value, message_id=message_id), message_id=message_id
        )
    loop = LoopTurns()
    with broker.broker_connection() as connection:
        channel = connection.default_channel
        channel.auto_decode = False
        receiver = consumer.InboxReceiver(channel)
        receiver.hub = loop  # as in the worker, where kombu's event loop runs the consumer
        queue = broker.durable_queue(samples_queue)
        with Consumer(channel, queues=[queue], on_message=receiver, prefetch_count=100):
            connection.drain_events(timeout=5)  # the first delivery starts a batch
            time.sleep(0.3)  # the other four reach the socket meanwhile
            loop.turn()
            assert (len(receiver.batch), batches) == (1, [])  # more to read: it waits
            for _ in range(4):
                connection.drain_events(timeout=5)
            loop.turn()

    assert batches == [[f"m-{value}" for value in range(5)]]
    assert sorted(Effect.objects.values_list("value", flat=True)) == list(range(5))
    assert set(InboxMessage.objects.values_list("status", flat=True)) == {"done"}
    assert broker.take_messages(samples_queue, timeout=0.3) == []  # all acked


@pytest.mark.django_db(transaction=True)
def test_in_a_batch_a_failing_handler_costs_only_its_own_message(
    fast_path, samples_queue, monkeypatch
):
    poison = envelope(0, message_id="p-2", type="sample.poison")
    bodies = [
        (envelope(1, message_id="m-1"), "m-1"),
        (poison, "p-2"),
        (envelope(2, message_id="m-2"), "m-2"),
    ]
    for body, message_id in bodies:
        broker.publish_raw(samples_queue, body, message_id=message_id)

    assert consume_in_one_batch(samples_queue, 3) == 3

    assert sorted(Effect.objects.values_list("message_id", flat=True)) == ["m-1", "m-2"]
    failed = InboxMessage.objects.get(message_id="p-2")
    assert (failed.status, failed.attempts) == (InboxMessage.Status.PENDING, 1)
    assert broker.take_messages(samples_queue, timeout=0.3) == []  # all acked


@pytest.mark.django_db(transaction=True)
def test_a_batch_whose_transaction_fails_is_stored_message_by_message_for_the_drain(
    fast_path, samples_queue, monkeypatch
):
    from django.db import OperationalError

    def fails_beyond_any_savepoint(received):  # as a commit-time error would
        raise OperationalError("could not serialize access")

    monkeypatch.setattr(consumer, "_handle_on_receipt", fails_beyond_any_savepoint)
    for value in range(3):
        broker.publish_raw(
            samples_queue, envelope(value, message_id=f"b-{value}"), message_id=f"b-{value}"
        )

    assert consume_in_one_batch(samples_queue, 3) == 3

    # Stored, pending and acked: the queue is not blocked, and the drain handles them.
    assert set(InboxMessage.objects.values_list("status", flat=True)) == {"pending"}
    assert broker.take_messages(samples_queue, timeout=0.3) == []
    monkeypatch.undo()
    assert drain.drain_inbox() == 3
    assert sorted(Effect.objects.values_list("value", flat=True)) == [0, 1, 2]


@pytest.mark.django_db(transaction=True)
def test_a_message_whose_handler_fails_on_receipt_is_left_to_the_drain(fast_path, samples_queue):
    poison = envelope(0, message_id="p-1", type="sample.poison")
    broker.publish_raw(samples_queue, poison, message_id="p-1")
    broker.publish_raw(samples_queue, envelope(8, message_id="m-8"), message_id="m-8")

    assert consume_into_inbox(samples_queue) == 2  # the failure did not stop the consumer

    failed = InboxMessage.objects.get(message_id="p-1")
    assert (failed.status, failed.attempts) == (InboxMessage.Status.PENDING, 1)
    assert "poison message" in failed.last_error  # its write rolled back:
    assert Effect.objects.get().message_id == "m-8"


@pytest.mark.django_db(transaction=True)
def test_a_forked_process_never_uses_its_parents_broker_connection(samples_queue):
    # The consumer publishes from a Celery worker's main process, which forks pool children.
    outgoing = Outgoing(samples_queue, b"{}", "fork-1", "sample.created", {})
    assert publisher.publish_batch([outgoing], confirm_timeout=5).confirmed == ["fork-1"]
    parents_session = publisher._local.session

    child = os.fork()
    if child == 0:  # the child: a session of its own, or none yet; never the parent's
        os._exit(0 if getattr(publisher._local, "session", None) is None else 1)
    _, status = os.waitpid(child, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert publisher._local.session is parents_session
    assert publisher.publish_batch([outgoing], confirm_timeout=5).confirmed == ["fork-1"]
    assert len(broker.take_messages(samples_queue)) == 2
