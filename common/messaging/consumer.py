"""The consumer: a bootstep of the service's Celery worker that feeds the inbox.

Why inside the worker rather than a process of its own: the worker already owns a broker
connection with heartbeats, reconnects it after a broker restart and restarts its consumer
bootsteps on the new connection, and is supervised like every other process. A separate
consumer would repeat all of that.

Manual acks with a bounded prefetch (PREFETCH_COUNT): a message is acked only after its
inbox row committed (or was found to exist already), so a crash before that redelivers it.
The consumer also handles new messages at once, in the transaction that stores them (each
type's handler gets the batch's messages together: drain.handle_together_on_receipt; if
it fails, each alone: drain.handle_on_receipt); a handler that fails on a message alone
leaves its row pending, with the attempt recorded, for the drain sweep. Handling on the
consumer's thread saves a Celery task per message, the largest cost of the pipeline
(docs/performance.md).

Messages are taken in batches: the deliveries that arrive together (all that the socket
holds when the worker's event loop gets to them, up to BATCH_SIZE) are stored and handled
in one transaction, then acked, and the events their handlers record are published as one
batch after the commit. Under load that turns a commit and a publish per message into one
per batch; when messages come one at a time, a batch is one message and waits for nothing.
"""

import logging
import select
import time
from dataclasses import dataclass

from celery import bootsteps
from django.db import DataError, Error, connection, transaction
from kombu import Consumer
from kombu.asynchronous import get_event_loop

from common.messaging import inbox
from common.messaging.broker import durable_queue
from common.messaging.conf import messaging_settings
from common.messaging.drain import (
    batch_transaction,
    handle_on_receipt,
    handle_together_on_receipt,
)
from common.messaging.envelope import Envelope, MalformedMessage, parse_body
from common.messaging.models import InboxMessage
from common.messaging.registry import handler_for
from common.messaging.types import in_lock_order
from common.observability import metrics

logger = logging.getLogger(__name__)

# While the database is unreachable, wait this long before handing messages back to the
# broker, so the redelivery loop does not spin.
DATABASE_RETRY_PAUSE_SECONDS = 1.0


class InboxConsumerStep(bootsteps.ConsumerStep):
    def get_consumers(self, channel):
        conf = messaging_settings()
        if not conf.CONSUME:
            return []
        queues = [durable_queue(conf.queue_name(name)) for name in conf.CONSUME]
        logger.info("Consuming %s", ", ".join(queue.name for queue in queues))
        # Bodies reach the inbox as the bytes that were sent: py-amqp would otherwise decode
        # them by the message's own content_encoding, which a broken message may lie about.
        channel.auto_decode = False
        return [
            Consumer(
                channel,
                queues=queues,
                # on_message gets the raw message: garbage bytes reach us instead of failing
                # inside kombu's decoder.
                on_message=InboxReceiver(channel),
                prefetch_count=conf.PREFETCH_COUNT,
                no_ack=False,
            )
        ]


class InboxReceiver:
    """The consumer's on_message: gathers the deliveries that arrive together into a batch,
    then stores, acks and handles it (process_batch).

    In the worker, kombu's event loop reads one delivery per turn. A delivery starts a
    batch and asks the loop to come back; each time it does, the batch is processed unless
    the connection's socket already holds more to read. Without an event loop (a plain
    kombu consumer, as in tests), each delivery is processed at once.
    """

    def __init__(self, channel):
        self.hub = get_event_loop()
        self.socket = getattr(channel.connection, "sock", None)
        conf = messaging_settings()
        # PREFETCH_COUNT 0 means no limit from the broker.
        self.max_batch = max(1, min(conf.BATCH_SIZE, conf.PREFETCH_COUNT or conf.BATCH_SIZE))
        self.batch: list = []
        self.scheduled = False  # a _flush_unless_more_waiting is due on the loop

    def __call__(self, message) -> None:
        if self.hub is None:
            process_batch([message])
            return
        self.batch.append(message)
        if len(self.batch) >= self.max_batch:
            self._flush()
        elif not self.scheduled:
            self.scheduled = True
            self.hub.call_soon(self._flush_unless_more_waiting)

    def _flush_unless_more_waiting(self) -> None:
        if self.batch and self._more_waiting():
            self.hub.call_soon(self._flush_unless_more_waiting)
            return
        self.scheduled = False
        self._flush()

    def _more_waiting(self) -> bool:
        if self.socket is None:
            return False
        try:
            poller = select.poll()  # not select(): it fails for descriptors over 1023
            poller.register(self.socket, select.POLLIN)
            return bool(poller.poll(0))
        except (OSError, ValueError):  # a closed socket: nothing more will come on it
            return False

    def _flush(self) -> None:
        batch, self.batch = self.batch, []
        if batch:
            process_batch(batch)


def process_batch(messages: list) -> None:
    """Store deliveries in the inbox and handle the new ones (HANDLE_ON_RECEIPT), all in one
    transaction, then ack them. If that transaction fails, each message is stored again on
    its own (store_one_by_one).

    Nothing a message contains may stop the consumer: an error that is not the database's
    parks that message (with its raw body), and a handler that raises leaves its message
    pending with the attempt recorded, for the drain; both are acked with the others.
    """
    handle = messaging_settings().HANDLE_ON_RECEIPT
    metrics.batch_size.labels("consume").observe(len(messages))
    try:
        with batch_transaction():
            received = [
                taken
                for message in messages
                if (taken := _take_or_park(*_delivery(message), handle=handle)) is not None
            ]
            _handle_on_receipt(received)
    except Exception as exc:
        logger.warning(
            "A batch of %d message(s) failed, storing each alone: %s", len(messages), exc
        )
        _drop_connection()
        store_one_by_one(messages)
        return
    _settle(messages, "ack")


def store_one_by_one(messages: list) -> None:
    """After a batch failed: each message in a transaction of its own, stored but not
    handled (the drain handles it, counting its attempts), then acked. So a message whose
    handling fails in a way no savepoint catches cannot block its queue. If the database
    fails here too, it is down: the message and the rest go back to the broker after a pause.
    """
    for position, message in enumerate(messages):
        try:
            with transaction.atomic():
                _take_or_park(*_delivery(message), handle=False)
        except Error as exc:
            logger.error("Cannot store messages, requeueing %d: %s", len(messages) - position, exc)
            _drop_connection()
            time.sleep(DATABASE_RETRY_PAUSE_SECONDS)
            _settle(messages[position:], "requeue")
            return
        _settle([message], "ack")


def _drop_connection() -> None:
    """The consumer keeps one connection for its life (no request cycle closes it); after an
    error it is dropped, and the next transaction connects afresh."""
    try:
        connection.close()
    except Error as exc:
        logger.debug("Ignoring an error while closing a broken connection: %s", exc)


def _delivery(message) -> tuple[bytes, str | None, str]:
    body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
    return body, message.properties.get("message_id"), message.delivery_info.get("routing_key", "")


def _settle(messages: list, how: str) -> None:
    """Ack or requeue each message. If the channel has closed meanwhile (a broker restart),
    the broker hands the unacked messages out again, and the inbox absorbs the copies."""
    for message in messages:
        try:
            getattr(message, how)()
        except Exception as exc:
            logger.warning("Could not %s a message (the broker redelivers it): %s", how, exc)
            return


@dataclass(frozen=True)
class Received:
    """A new message to handle on receipt: stored by its handling, not before."""

    envelope: Envelope
    queue: str
    body: bytes


def _handle_on_receipt(received: list[Received]) -> None:
    """Each type's messages handled together (one handler call, one insert of their done
    rows); if that fails, each alone, so a bad message spends only its own attempt."""
    groups: dict[tuple[str, str], list[Received]] = {}
    for item in received:
        groups.setdefault((item.envelope.type, item.queue), []).append(item)
    for (_, queue), group in groups.items():
        envelopes = [item.envelope for item in group]
        if len(group) > 1 and handle_together_on_receipt(envelopes, queue):
            continue
        alone = in_lock_order(group[0].envelope.type, group, lambda item: item.envelope.payload)
        for item in alone:
            _guarded(item.body, item.queue, lambda item=item: _handle_alone(item))


def _handle_alone(item: Received) -> None:
    try:
        handle_on_receipt(item.envelope, item.queue)
    except DataError as exc:
        # A payload PostgreSQL cannot store (see _store): parked with its raw body.
        reason = f"payload refused by the database: {exc}"
        inbox.park_malformed(item.body, item.envelope.id, item.queue, reason)


def _take_or_park(body: bytes, message_id: str | None, queue: str, *, handle: bool):
    """take(), with any failure but the database's turned into a parked message."""
    return _guarded(
        body,
        queue,
        lambda: take(body=body, message_id_property=message_id, queue=queue, handle=handle),
    )


def _guarded(body: bytes, queue: str, work):
    """Nothing a message contains may stop the consumer: an error that is not the
    database's parks the message with its raw body."""
    try:
        return work()
    except Error:
        raise
    except Exception as exc:
        logger.exception("Unexpected error storing a message from %s; parking it", queue)
        inbox.park_malformed(body, None, queue, f"cannot be stored: {exc!r}")
        return None


def take(*, body: bytes, message_id_property: str | None, queue: str, handle: bool):
    """A received message: parked if malformed, stored (pending, or failed when no handler
    is registered for its type) unless it is to be handled on receipt (`handle`); then it
    comes back, to be handled with the others of its batch (which stores it)."""
    envelope = _parse_or_park(body, message_id_property, queue)
    if envelope is None:
        return None
    handled = _has_handler(envelope)
    if handled and handle:
        return Received(envelope, queue, body)
    _store(envelope, body, queue, handled=handled)
    return None


def store_incoming(
    *, body: bytes, message_id_property: str | None, queue: str, handle: bool = False
) -> InboxMessage | None:
    """One received message on its own (the consumer takes batches): its row when it is new
    and pending, None when it was a duplicate, has been parked, or (`handle`) has been
    handled at once (its row stored done, or pending after a failure)."""
    envelope = _parse_or_park(body, message_id_property, queue)
    if envelope is None:
        return None
    handled = _has_handler(envelope)
    if handled and handle:
        _handle_alone(Received(envelope, queue, body))
        return None
    row = _store(envelope, body, queue, handled=handled)
    return row if handled else None


def _parse_or_park(body: bytes, message_id_property: str | None, queue: str) -> Envelope | None:
    metrics.messages_consumed.labels(queue).inc()
    try:
        return parse_body(body, message_id_property=message_id_property)
    except MalformedMessage as exc:
        inbox.park_malformed(body, message_id_property, queue, str(exc))
        return None


def _has_handler(envelope: Envelope) -> bool:
    if handler_for(envelope.type) is not None:
        return True
    # A sender deployed before its receiver: stored as failed with its envelope, and
    # "Requeue failed" in the admin handles it once a release registers the handler.
    logger.error("Parking message %s: no handler for type %r", envelope.id, envelope.type)
    return False


def _store(envelope: Envelope, body: bytes, queue: str, *, handled: bool) -> InboxMessage | None:
    try:
        # A savepoint (or its own transaction in autocommit): a DataError below leaves the
        # connection usable for parking the message.
        with transaction.atomic():
            return inbox.insert(envelope, queue, handled=handled)
    except DataError as exc:
        # e.g. "\\u0000" inside a JSON string, which PostgreSQL's jsonb cannot store.
        inbox.park_malformed(body, envelope.id, queue, f"payload refused by the database: {exc}")
        return None
