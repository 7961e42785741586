"""The only place that publishes events to RabbitMQ: the relay's publisher.

Publisher confirms, batched: a batch is published on a channel in confirm mode and then the
broker's acks (and nacks) are collected for all of it, instead of waiting one round trip
per message. Measured on this machine (persistent messages, one durable queue): about
1,200 msg/s confirming each message, 9,200 with an AMQP transaction per 100, 12,800 with
confirms collected per 100 (see docs/messaging.md). A message counts as sent only once its
ack arrived.

One connection per thread (py-amqp connections are not thread-safe), made from the Celery
app's broker settings; each durable queue is declared once per connection. Any broker error
drops the connection, so the next batch reconnects: after a broker restart the relay
recovers by itself. The connection has no heartbeat: it is used in short bursts, and a dead
one shows as a failed publish or a confirm timeout, which the relay treats as an outage.

A service publishes to an exchange of its own, `<prefix><service>.events`, to which it binds
each destination queue by the queue's name, not through the default exchange: RabbitMQ grants
writing per exchange, and the default one reaches every queue, so a service allowed to write
there could put messages into any queue (docs/security.md, "Least privilege").

MESSAGING_QUEUE_TYPE=quorum declares the service queues as quorum queues (replicated over a
cluster) with a delivery limit; a message delivered more often than that is dead-lettered
through the exchange `<queue>.parking` into the queue `<queue>.parking`, declared with it,
where it waits for an operator instead of being dropped or redelivered for ever. Then only
the consumer declares its queue; the sender binds it once it exists (_bind_existing). A queue's
type cannot change in place: declaring it with the other type stops with QueueTypeMismatch,
which says what to do (docs/messaging.md, "Quorum queues").
"""

import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field

import amqp
import amqp.exceptions
from celery import current_app
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from kombu import Connection, Exchange, Producer, Queue

from common.messaging.conf import messaging_settings
from common.messaging.envelope import CONTENT_TYPE

logger = logging.getLogger(__name__)


PARKING_SUFFIX = ".parking"


class QueueTypeMismatch(ImproperlyConfigured):
    """The queue exists with the other type: RabbitMQ cannot change a queue's type in place."""


class ServiceQueue(Queue):
    """A service queue of the configured type. For quorum, its declaration declares the
    parking queue first (so nothing is dead-lettered into the void), and a queue of that
    name that exists with another type stops it with a QueueTypeMismatch that says what to
    do, instead of the broker's bare PRECONDITION_FAILED."""

    def declare(self, nowait=False, channel=None):
        channel = channel or self.channel
        if messaging_settings().QUEUE_TYPE == "quorum":
            parking_queue(self.name).declare(channel=channel)
        try:
            return super().declare(nowait=nowait, channel=channel)
        except amqp.exceptions.PreconditionFailed as exc:
            current = existing_queue_type(channel.connection, self.name, self.queue_arguments)
            wanted = (self.queue_arguments or {}).get("x-queue-type", "classic")
            if current == wanted:
                raise  # another argument differs: the broker's own words say which
            raise _type_mismatch(self.name, current, wanted) from exc


# "inequivalent arg 'x-overflow' for queue 'q' in vhost '/': received the value ... but
# current is the value 'reject-publish' of type 'longstr'" (or "but current is none").
_DISAGREEMENT = re.compile(
    r"inequivalent arg '([^']+)'.* but current is (?:none|the value '([^']*)' of type '(\w+)')"
)


def existing_queue_type(connection, name: str, arguments: dict | None) -> str:
    """The type of an existing queue, learnt over AMQP alone (the management API may be
    off): RabbitMQ names the first argument a declaration disagrees on and its current
    value, so declare again on a fresh channel with that argument as the broker has it,
    until it names x-queue-type or agrees (a declaration equal to the queue changes
    nothing). A classic queue declared without the argument has none."""
    arguments = dict(arguments or {})
    for _ in range(20):  # one round per argument at most
        channel = connection.channel()
        try:
            channel.queue_declare(name, durable=True, auto_delete=False, arguments=arguments)
            return arguments.get("x-queue-type", "classic")
        except amqp.exceptions.PreconditionFailed as exc:
            disagreement = _DISAGREEMENT.search(str(exc))
            if disagreement is None:
                raise
            key, value, kind = disagreement.groups()
            if key == "x-queue-type":
                return value or "classic"
            if kind is None:
                arguments.pop(key, None)
            elif kind == "longstr":
                arguments[key] = value
            elif kind == "bool":
                arguments[key] = value == "true"
            else:  # the integer types
                arguments[key] = int(value)
        finally:
            if channel.is_open:
                channel.close()
    raise RuntimeError(f"could not learn the type of the queue {name!r}")


def _type_mismatch(queue: str, current: str, wanted: str) -> QueueTypeMismatch:
    return QueueTypeMismatch(
        f"The queue {queue!r} exists as a {current} queue, but MESSAGING_QUEUE_TYPE is "
        f"{wanted!r}: RabbitMQ cannot change a queue's type in place. Stop its publishers, "
        f"let its consumer drain it, delete it (rabbitmqctl delete_queue {queue}) and start "
        f"again; or set MESSAGING_QUEUE_TYPE={current} back, or use a new "
        f"MESSAGING_QUEUE_PREFIX (docs/messaging.md, Quorum queues)."
    )


def queue_arguments(queue: str) -> dict | None:
    """The x-arguments of a service queue of the configured type (None for classic)."""
    conf = messaging_settings()
    if conf.QUEUE_TYPE != "quorum":
        return None
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": conf.DELIVERY_LIMIT,
        "x-dead-letter-exchange": parking_name(queue),
        # at-least-once: a dead-lettered message leaves the queue only once the parking
        # queue has it (RabbitMQ's default, at-most-once, may lose it on the way); RabbitMQ
        # requires the reject-publish overflow for it.
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def parking_name(queue: str) -> str:
    return queue + PARKING_SUFFIX


def parking_queue(queue: str) -> Queue:
    """Where `queue`'s messages go past the delivery limit: a quorum queue bound to a fanout
    exchange of the same name, without a limit of its own (an operator reads it)."""
    name = parking_name(queue)
    return Queue(
        name,
        exchange=Exchange(name, type="fanout", durable=True, auto_delete=False),
        routing_key=name,
        durable=True,
        auto_delete=False,
        queue_arguments={"x-queue-type": "quorum"},
    )


def _service_queue(name: str, exchange: Exchange | str) -> ServiceQueue:
    return ServiceQueue(
        name,
        exchange=exchange,
        routing_key=name,
        durable=True,
        auto_delete=False,
        queue_arguments=queue_arguments(name),
    )


def durable_queue(name: str) -> Queue:
    # Declared without a binding: the sender binds it to its own exchange (routed_queue).
    return _service_queue(name, exchange="")


def events_exchange() -> Exchange:
    """The exchange this service publishes its events to: its own, so that the broker can
    allow it to write there and nowhere else."""
    conf = messaging_settings()
    return Exchange(
        f"{conf.QUEUE_PREFIX}{conf.SERVICE}.events", type="direct", durable=True, auto_delete=False
    )


def routed_queue(name: str) -> Queue:
    """A destination queue bound to this service's exchange by its name. The sender declares
    it, so messages wait in it until its consumer first runs."""
    return _service_queue(name, exchange=events_exchange())


@dataclass(frozen=True)
class Outgoing:
    queue: str
    body: bytes
    message_id: str
    message_type: str
    headers: dict


@dataclass
class BatchOutcome:
    """What became of a batch. `confirmed`: the broker has these messages. `rejected`: id ->
    why the broker refused this message (nack, returned as unroutable, or the channel error
    it caused); each counts as a failed attempt. Any other id of the batch is unconfirmed:
    `outage` says why, and it is published again later without spending an attempt."""

    confirmed: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    outage: str | None = None


class _Session:
    """One thread's connection and confirm-mode channel, and the tags awaiting a confirm."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self.channel = connection.channel()
        self.channel.confirm_select()
        self.channel.events["basic_ack"].add(self._on_ack)
        self.channel.events["basic_nack"].add(self._on_nack)
        self.channel.events["basic_return"].add(self._on_return)
        self.last_tag = 0  # delivery tags count publishes on the channel from 1
        self.declared: set[str] = set()
        self.awaiting: dict[int, str] = {}
        self.returned: set[str] = set()
        self.outcome = BatchOutcome()

    def start_batch(self) -> None:
        self.awaiting, self.returned, self.outcome = {}, set(), BatchOutcome()

    def _settled(self, delivery_tag: int, multiple: bool) -> list[str]:
        tags = [t for t in self.awaiting if t <= delivery_tag] if multiple else [delivery_tag]
        return [self.awaiting.pop(tag) for tag in tags if tag in self.awaiting]

    def _on_ack(self, delivery_tag, multiple):
        for message_id in self._settled(delivery_tag, multiple):
            if message_id in self.returned:
                # RabbitMQ acks an unroutable mandatory message after returning it.
                self.outcome.rejected[message_id] = "returned by the broker: no queue to route to"
            else:
                self.outcome.confirmed.append(message_id)

    def _on_nack(self, delivery_tag, multiple):
        for message_id in self._settled(delivery_tag, multiple):
            self.outcome.rejected[message_id] = "the broker refused the message (nack)"

    def _on_return(self, exc, exchange, routing_key, message):
        self.returned.add(message.properties.get("message_id"))

    def oldest_awaiting(self) -> str | None:
        return self.awaiting[min(self.awaiting)] if self.awaiting else None


class Publisher:
    def __init__(self):
        self._local = threading.local()
        # A forked process (a Celery pool child forked from a worker whose consumer has
        # published) must not use its parent's connection: two processes writing to one
        # channel would read each other's confirms. The child forgets it (without closing
        # it: the socket is the parent's) and connects on its own.
        os.register_at_fork(after_in_child=self._forget_sessions)

    def _forget_sessions(self) -> None:
        self._local = threading.local()

    def publish_batch(self, messages: list[Outgoing], *, confirm_timeout: float) -> BatchOutcome:
        """Publish persistent messages, then wait (at most `confirm_timeout` s) for the
        broker to confirm each. Never raises for broker trouble: see BatchOutcome."""
        if not settings.CELERY_BROKER_URL.startswith(("amqp", "pyamqp")):
            return _publish_without_confirms(messages)
        try:
            session = self._session()
        except Exception as exc:
            self.reset()
            return BatchOutcome(outage=f"cannot connect: {exc}")
        session.start_batch()
        current = None
        exchange = events_exchange().name
        try:
            for current in messages:
                self._declare(session, current.queue)
                # mandatory: a message no queue takes is returned, not silently dropped.
                session.channel.basic_publish(
                    _amqp_message(current), exchange=exchange, routing_key=current.queue,
                    mandatory=True,
                )  # fmt: skip
                session.last_tag += 1
                session.awaiting[session.last_tag] = current.message_id
            current = None
            deadline = time.monotonic() + confirm_timeout
            while session.awaiting:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no confirm within {confirm_timeout} s")
                session.connection.drain_events(timeout=remaining)
        except amqp.exceptions.ChannelError as exc:
            # The broker closed the channel over one message (too large, say): that one
            # spends an attempt, so it cannot block the others for ever.
            self.reset()
            culprit = current.message_id if current else session.oldest_awaiting()
            if culprit:
                session.outcome.rejected[culprit] = f"{type(exc).__name__}: {exc}"
            session.outcome.outage = f"channel closed: {exc}"
        except Exception as exc:
            self.reset()
            session.outcome.outage = f"{type(exc).__name__}: {exc}"
        if session.returned:
            self.reset()  # re-declare the queues on the next batch: one may have been deleted
        return session.outcome

    def _session(self) -> _Session:
        session = getattr(self._local, "session", None)
        if session is None:
            connection = current_app.connection_for_write(
                # Confirms are collected per batch here, not awaited per publish.
                transport_options={"confirm_publish": False},
            )
            # One attempt, no sleeping retry: a caller on the fast path (a web request, the
            # consumer) must not wait for a broker that is down; the sweep tries again.
            connection.ensure_connection(max_retries=0)
            session = self._local.session = _Session(connection)
        return session

    def _declare(self, session: _Session, queue: str) -> None:
        if queue not in session.declared:
            if messaging_settings().QUEUE_TYPE == "quorum":
                _bind_existing(session.channel, queue)
            else:
                routed_queue(queue).declare(channel=session.channel)
            session.declared.add(queue)

    def reset(self) -> None:
        session = getattr(self._local, "session", None)
        self._local.session = None
        if session is not None:
            try:
                # Drop the socket without AMQP's close handshake: a broker that is paused
                # or cut off would never answer it, and the caller would hang.
                session.connection.collect()
            except Exception as exc:
                logger.debug("Ignoring an error while closing a broken connection: %s", exc)


class QueueNotDeclaredYet(Exception):
    """A quorum destination queue that its consumer has not declared yet."""


def _bind_existing(channel, queue: str) -> None:
    """Quorum: only the consumer declares its queue, because RabbitMQ lets a queue with a
    dead-letter exchange be declared only by a user who may read the queue, and the sender
    may not (docs/security.md, "Least privilege"). The sender binds the queue once it
    exists; until then its messages wait in the outbox, spending no attempt (an outage)."""
    exchange = events_exchange()
    exchange.declare(channel=channel)
    try:
        channel.queue_declare(queue, passive=True)
    except amqp.exceptions.NotFound as exc:
        raise QueueNotDeclaredYet(
            f"the quorum queue {queue!r} does not exist yet: its consumer declares it"
        ) from exc
    channel.queue_bind(queue, exchange.name, routing_key=queue)


def _publish_without_confirms(messages: list[Outgoing]) -> BatchOutcome:
    """The embedded mode's file-based broker has no confirms: a publish that returned has
    written its file, which is what a confirm would say."""
    outcome = BatchOutcome()
    try:
        with current_app.connection_for_write() as connection:
            producer = Producer(connection.default_channel)
            for message in messages:
                producer.publish(
                    message.body,
                    routing_key=message.queue,
                    exchange="",
                    declare=[durable_queue(message.queue)],
                    content_type=CONTENT_TYPE,
                    content_encoding="utf-8",
                    message_id=message.message_id,
                    type=message.message_type,
                    headers=message.headers,
                )
                outcome.confirmed.append(message.message_id)
    except Exception as exc:
        outcome.outage = f"{type(exc).__name__}: {exc}"
    return outcome


def _amqp_message(message: Outgoing) -> amqp.Message:
    return amqp.Message(
        message.body,
        content_type=CONTENT_TYPE,
        content_encoding="utf-8",
        delivery_mode=2,  # persistent
        message_id=message.message_id,
        type=message.message_type,
        headers=message.headers,
        timestamp=int(time.time()),
    )


publisher = Publisher()
