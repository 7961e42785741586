"""The API a service uses: record an event in its transaction; handle one from the inbox."""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from common.messaging.conf import messaging_settings
from common.messaging.models import OutboxMessage
from common.messaging.relay import publish_after_commit
from common.observability import context, tracing

logger = logging.getLogger(__name__)


class OutsideTransaction(RuntimeError):
    """record_event was called in autocommit mode, which would be a dual write."""


class PermanentFailure(Exception):
    """Raised by a handler for a message no retry can fix (say, a malformed payload): the
    message is parked as failed at once instead of after MAX_ATTEMPTS attempts."""


@dataclass(frozen=True)
class Event:
    """What a handler receives: one incoming message, already deduplicated by the inbox."""

    message_id: str
    type: str
    version: int
    payload: dict[str, Any]
    headers: dict[str, Any]


def record_event(
    *,
    type: str,
    payload: dict[str, Any],
    version: int = 1,
    headers: dict[str, str] | None = None,
) -> OutboxMessage:
    """Add an event to the outbox, in the caller's transaction.

    It commits or rolls back with the business rows; right after commit it is published
    from this process (relay.publish_after_commit) instead of at the next sweep.

    The event carries the work's request id and a `traceparent` (a producer span, child of
    the current one) in its headers unless `headers` name them: the handlers of the
    receiving service log with the same request id, in the same trace.
    """
    if not transaction.get_connection().in_atomic_block:
        raise OutsideTransaction(
            "record_event must run inside transaction.atomic() with the business change."
        )
    conf = messaging_settings()
    try:
        destination = conf.ROUTES[type]
    except KeyError:
        raise ValueError(f"No route for event type {type!r} in MESSAGING['ROUTES']") from None
    # Headers travel as AMQP header fields too: plain strings always encode.
    headers = {str(name): str(value) for name, value in (headers or {}).items()}
    if "request_id" not in headers and (request_id := context.get("request_id")):
        headers["request_id"] = request_id
    if "traceparent" not in headers and (
        traceparent := tracing.child_traceparent(f"{type} send", kind="producer")
    ):
        headers["traceparent"] = traceparent
    message = OutboxMessage.objects.create(
        type=type, version=version, destination=destination, payload=payload, headers=headers
    )
    if conf.PUBLISH_AFTER_COMMIT:
        batch = getattr(_published_together, "ids", None)
        if batch is not None:
            batch.append(message.id)
        else:
            transaction.on_commit(PublishAfterCommit((message.id,)))
    return message


@dataclass(frozen=True)
class PublishAfterCommit:
    """The on-commit callback of recorded events (a class: tests can see what it is)."""

    message_ids: tuple

    def __call__(self) -> None:
        publish_after_commit(list(self.message_ids))


_published_together = threading.local()


@contextmanager
def publishing_together() -> Iterator[None]:
    """Events recorded inside the block are published after commit as one batch: one
    claim, one confirm wait and one mark for all of them instead of one each.

    Use it inside the transaction.atomic() that records them (the consumer handles a batch
    of messages in one transaction this way). An event whose savepoint rolled back stays in
    the batch, harmlessly: it has no row, so the publish claims nothing for it.
    """
    if getattr(_published_together, "ids", None) is not None:
        yield  # already inside a batch: the outer block publishes
        return
    ids = _published_together.ids = []
    try:
        yield
    finally:
        _published_together.ids = None
    if ids:
        transaction.on_commit(PublishAfterCommit(tuple(ids)))


def wake_relay() -> None:
    from common.messaging.tasks import relay_outbox

    _wake(relay_outbox)


def wake_drain() -> None:
    from common.messaging.tasks import drain_inbox

    _wake(drain_inbox)


def _wake(task) -> None:
    # A wake-up only shortens latency; the beat sweep finds the rows anyway. So it must
    # never fail the caller (whose transaction has already committed): no retries, log only.
    try:
        task.apply_async(retry=False)
    except Exception as exc:
        logger.warning("Could not wake %s (the next sweep will run it): %s", task.name, exc)
