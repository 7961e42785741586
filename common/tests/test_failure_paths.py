"""Failure paths of the messaging that other tests do not reach (issue 15): the broker
closing the channel over one message, a confirm time-out behind a connection that stops
answering, deferred constraints inside a batch, a full batch, a closed socket, a copy
stored first, the fast path's catch-all. Against the real PostgreSQL and RabbitMQ."""

import socket
import threading

import pytest
from celery import current_app
from django.db import DatabaseError, transaction
from kombu import Queue

from common.messaging import consumer, drain, record_event, relay
from common.messaging.broker import publisher
from common.messaging.conf import messaging_settings
from common.messaging.models import InboxMessage, OutboxMessage
from common.testing import broker
from common.tests.sampleapp.contracts import SAMPLE_CREATED, SAMPLE_MISDECLARED
from common.tests.sampleapp.models import Effect, Note
from common.tests.test_inbox_drain import envelope


def record(message_type, value: int) -> OutboxMessage:
    with transaction.atomic():
        return record_event(message_type, payload={"value": value})


@pytest.fixture
def fresh_publisher():
    publisher.reset()
    yield publisher
    publisher.reset()


@pytest.fixture
def misdeclared_queue(samples_queue):
    """The queue of SAMPLE_MISDECLARED, declared first with an argument the relay's own
    declaration lacks: RabbitMQ answers the relay's declaration with PRECONDITION_FAILED,
    closing the channel. (After samples_queue, whose purge declares every run queue.)"""
    name = messaging_settings().queue_name("misdeclared")
    broker.delete(name)
    with broker.broker_connection() as connection:
        Queue(name, durable=True, queue_arguments={"x-max-length": 1000})(
            connection.default_channel
        ).declare()
    yield name
    broker.delete(name)


@pytest.mark.django_db(transaction=True)
def test_a_channel_closed_over_one_message_spends_its_attempt_only(
    fresh_publisher, misdeclared_queue, samples_queue
):
    bad = record(SAMPLE_MISDECLARED, 1)
    good = record(SAMPLE_CREATED, 2)

    relay.relay_outbox()  # the channel closes over the first: the batch stops there
    relay.relay_outbox()  # the next run publishes the other on a new channel

    bad.refresh_from_db()
    good.refresh_from_db()
    assert (bad.status, bad.attempts) == ("pending", 1)
    assert "PRECONDITION_FAILED" in bad.last_error or "inequivalent" in bad.last_error
    assert (good.status, good.attempts) == ("sent", 0)
    assert [m.properties["message_id"] for m in broker.take_messages(samples_queue)] == [
        str(good.id)
    ]


class PausableProxy:
    """A TCP proxy to RabbitMQ whose forwarding can be stopped: the connection stays open
    but nothing more reaches either side, as with a paused broker (the shared broker itself
    is never paused)."""

    def __init__(self, target=("127.0.0.1", 5672)):
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.forwarding = threading.Event()
        self.forwarding.set()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source, sink):
        try:
            while data := source.recv(65536):
                self.forwarding.wait()
                sink.sendall(data)
        except OSError:
            pass

    def close(self):
        self.server.close()
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def paused_broker(monkeypatch, settings, fresh_publisher):
    proxy = PausableProxy()
    url = settings.CELERY_BROKER_URL.replace("127.0.0.1:5672", f"127.0.0.1:{proxy.port}")
    assert url != settings.CELERY_BROKER_URL
    monkeypatch.setattr(current_app.conf, "broker_write_url", url)
    settings.MESSAGING = {**settings.MESSAGING, "CONFIRM_TIMEOUT_SECONDS": 1.0}
    yield proxy
    proxy.forwarding.set()
    proxy.close()


@pytest.mark.django_db(transaction=True)
def test_a_confirm_time_out_behind_a_connection_that_stops_answering(paused_broker, samples_queue):
    first = record(SAMPLE_CREATED, 1)
    assert relay.relay_outbox() == 1  # through the proxy, confirmed
    waiting = [record(SAMPLE_CREATED, n) for n in (2, 3)]

    paused_broker.forwarding.clear()
    assert relay.relay_outbox() == 0  # the confirm never comes: a time-out, an outage

    for row in waiting:
        row.refresh_from_db()
        assert (row.status, row.attempts, row.last_error) == ("pending", 0, "")
    paused_broker.forwarding.set()
    assert relay.relay_outbox() == 2  # a new connection, the same rows
    first.refresh_from_db()
    assert first.status == "sent"
    received = {m.properties["message_id"] for m in broker.take_messages(samples_queue)}
    assert {str(row.id) for row in waiting} <= received  # at least once: maybe twice


@pytest.mark.django_db(transaction=True)
def test_a_deferred_constraint_fails_its_own_message_not_the_batch_commit():
    stored = [
        consumer.store_incoming(
            body=envelope(value, message_id=f"d-{value}", type=message_type),
            message_id_property=None,
            queue="q",
        )
        for value, message_type in (
            (1, "sample.created"),
            (7, "sample.orphan"),
            (2, "sample.created"),
        )
    ]
    assert all(stored)

    assert drain.drain_inbox() == 2  # the batch committed without the orphan's note

    assert sorted(Effect.objects.values_list("value", flat=True)) == [1, 2]
    assert not Note.objects.exists()
    orphan = InboxMessage.objects.get(message_id="d-7")
    assert (orphan.status, orphan.attempts) == ("pending", 1)
    assert "foreign key" in orphan.last_error


@pytest.mark.django_db(transaction=True)
def test_a_full_batch_is_processed_at_once_without_waiting_for_the_loop(settings, monkeypatch):
    settings.MESSAGING = {**settings.MESSAGING, "BATCH_SIZE": 3, "PREFETCH_COUNT": 10}
    processed = []
    monkeypatch.setattr(consumer, "process_batch", processed.append)

    class Loop:
        scheduled = []

        def call_soon(self, callback):
            self.scheduled.append(callback)

    class Channel:
        connection = None

    receiver = consumer.InboxReceiver(Channel())
    receiver.hub = Loop()
    for n in range(4):
        receiver(f"message-{n}")

    assert processed == [["message-0", "message-1", "message-2"]]  # flushed when full
    assert receiver.batch == ["message-3"]
    for callback in receiver.hub.scheduled:
        callback()
    assert processed[-1] == ["message-3"]


def test_a_closed_socket_has_nothing_more_waiting():
    left, right = socket.socketpair()
    right.sendall(b"x")

    class Channel:
        class connection:  # stands in for the channel's connection
            sock = left

    receiver = consumer.InboxReceiver(Channel())
    assert receiver._more_waiting()  # data on an open socket: wait for it
    left.close()
    right.close()
    assert not receiver._more_waiting()  # closed: nothing more will come, flush


@pytest.mark.django_db(transaction=True)
def test_a_message_whose_copy_was_stored_first_is_not_handled_again(settings):
    settings.MESSAGING = {**settings.MESSAGING, "HANDLE_ON_RECEIPT": True}
    body = envelope(5, message_id="copy")
    consumer.store_incoming(body=body, message_id_property=None, queue="q")  # pending

    class Delivery:
        def __init__(self):
            self.body, self.properties, self.delivery_info = body, {}, {"routing_key": "q"}
            self.acked = False

        def ack(self):
            self.acked = True

    deliveries = [Delivery(), Delivery()]  # two more copies, together
    consumer.process_batch(deliveries)

    assert all(delivery.acked for delivery in deliveries)
    assert not Effect.objects.exists()  # the stored copy is the drain's to handle
    assert InboxMessage.objects.get().status == "pending"
    assert drain.drain_inbox() == 1
    assert Effect.objects.get().value == 5


@pytest.mark.django_db(transaction=True)
def test_the_fast_path_swallows_any_error_and_leaves_the_rows_to_the_sweep(
    settings, monkeypatch, samples_queue, caplog
):
    settings.MESSAGING = {
        **settings.MESSAGING,
        "PUBLISH_AFTER_COMMIT": True,
        "PUBLISH_AFTER_COMMIT_BY": "committer",
    }

    def claim_fails(ids):
        raise DatabaseError("the claim failed")

    monkeypatch.setattr(relay, "_claim_marking_sent", claim_fails)
    row = record(SAMPLE_CREATED, 1)  # the commit stands, nothing raised

    row.refresh_from_db()
    assert (row.status, row.attempts) == ("pending", 0)
    assert "Publishing after commit failed" in caplog.text
    monkeypatch.undo()
    assert relay.relay_outbox() == 1
