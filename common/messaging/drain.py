"""The inbox drain: run the registered handler of each pending message, once.

A batch of messages is handled in one transaction, which first claims their rows (FOR
UPDATE SKIP LOCKED, so concurrent drains never take the same message), then runs each
handler and marks its row done inside a savepoint of its own: a handler's effect and its
done mark commit together or not at all. If a handler raises, only its savepoint rolls
back; the attempt is recorded on the still-locked row (retried with backoff, parked as
failed after MAX_ATTEMPTS) and the drain moves on to the next message. The events the
handlers record are published together after the commit.

One transaction per batch rather than per message: one commit (a disk flush) and one
publish with one confirm wait for the batch, which is what lets one consumer keep up
under load (docs/performance.md). The price: the batch's row locks (an account, say) are
held until the whole batch commits, a few milliseconds per message in it.

The consumer's fast path (handle_on_receipt) handles a message as it stores it, in the
transaction that stores the batch, so its handling needs no claim, no done mark and no
commit of its own.
"""

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from common.db import check_constraints_at_once
from common.messaging import inbox
from common.messaging.conf import MessagingSettings, messaging_settings
from common.messaging.envelope import Envelope
from common.messaging.models import InboxMessage
from common.messaging.outbox import publishing_together
from common.messaging.registry import handler_for
from common.messaging.retries import claim_due_rows, record_failure
from common.messaging.types import Event, PermanentFailure
from common.observability import context, metrics, tracing

logger = logging.getLogger(__name__)

ORDER = ("next_attempt_at", "received_at")


def drain_inbox(*, batch_size: int | None = None, max_messages: int = 10_000) -> int:
    """Handle due pending messages, batch after batch, until none is left (or
    `max_messages` keeps one run bounded). Returns the number handled successfully."""
    conf = messaging_settings()
    batch_size = batch_size or conf.BATCH_SIZE
    handled = attempted = 0
    while attempted < max_messages:
        with batch_transaction():
            rows = claim_due_rows(InboxMessage, batch_size, order=ORDER)
            handled += sum(_handle(row, conf) for row in rows)
        attempted += len(rows)
        # A short batch: the inbox is drained, or other drains hold the rest.
        if len(rows) < batch_size:
            break
    return handled


@contextmanager
def batch_transaction() -> Iterator[None]:
    """The transaction of a batch of messages, the drain's and the consumer's: the events
    its handlers record are published together after the commit, and deferred constraints
    are checked at each statement, so a handler's violation fails that handler's savepoint,
    not the whole batch's commit (again on every retry)."""
    with transaction.atomic(), publishing_together():
        check_constraints_at_once()
        yield


def handle_on_receipt(envelope: Envelope, queue: str) -> bool | None:
    """The fast path: the consumer handles a message as it stores it, instead of leaving
    it to a drain task. Its row goes in already marked done, in one savepoint with the
    handler's writes: both stand or neither does. No claim is needed (no one else sees the
    row before the consumer's transaction commits), and no second write marks it done.

    A duplicate (its id is stored already) is left alone: None. If the handler raises, the
    savepoint takes the row away with the handler's writes, and the row is stored again,
    pending, with the attempt recorded, for the drain to retry: False. An error of the
    insert itself (a payload the database refuses) goes to the caller.
    """
    with handling(envelope.id, envelope.type, envelope.headers, envelope.payload):
        return _handle_on_receipt(envelope, queue)


def _handle_on_receipt(envelope: Envelope, queue: str) -> bool | None:
    conf = messaging_settings()
    row = None
    try:
        with transaction.atomic():
            row = inbox.insert(
                envelope,
                queue,
                status=InboxMessage.Status.DONE,
                processed_at=timezone.now(),
                attempts=1,
            )
            if row is None:
                return None
            run_handler(event_of(row))
    except Exception as exc:
        if row is None:
            raise
        _log_failure(row, exc, attempt=1)
        pending = inbox.insert(envelope, queue)
        if pending is not None:  # else a concurrent copy was stored meanwhile: it counts
            record_failure(pending, exc, conf, permanent=isinstance(exc, PermanentFailure))
        return False
    return True


def _handle(row: InboxMessage, conf: MessagingSettings) -> bool:
    """Run a claimed row's handler and mark it done, in a savepoint; on failure, record the
    attempt. True when handled."""
    with handling(row.message_id, row.type, row.headers, row.payload):
        return _handle_claimed(row, conf)


def _handle_claimed(row: InboxMessage, conf: MessagingSettings) -> bool:
    try:
        with transaction.atomic():
            run_handler(event_of(row))
            # An UPDATE, not row.save(): if it failed, the row in memory would still
            # say pending for record_failure below.
            InboxMessage.objects.filter(pk=row.pk).update(
                status=InboxMessage.Status.DONE,
                processed_at=timezone.now(),
                attempts=F("attempts") + 1,
            )
    except Exception as exc:
        _log_failure(row, exc, attempt=row.attempts + 1)
        record_failure(row, exc, conf, permanent=isinstance(exc, PermanentFailure))
        return False
    return True


@contextmanager
def handling(message_id: str, message_type: str, headers: dict, payload: dict) -> Iterator[None]:
    """The context of one message's handling, its failure included: its log lines carry the
    request id it came with, its id and its order's, and it runs in a span of the trace it
    came with."""
    order_id = payload.get("order_id") if isinstance(payload, dict) else None
    with (
        context.bound(
            request_id=headers.get("request_id"),
            message_id=message_id,
            order_id=order_id if isinstance(order_id, str) else None,
        ),
        tracing.span(
            f"{message_type} process",
            kind="consumer",
            parent=headers.get("traceparent"),
            **{"messaging.message.id": message_id},
        ),
    ):
        yield


def run_handler(event: Event) -> None:
    """The handler of the event's type, timed; a failure is counted and raised."""
    started = time.perf_counter()
    try:
        handler = handler_for(event.type)
        if handler is None:
            raise LookupError(f"no handler registered for message type {event.type!r}")
        handler(event)
    except Exception:
        metrics.handler_failures.labels(event.type).inc()
        raise
    finally:
        metrics.handler_duration.labels(event.type).observe(time.perf_counter() - started)


def _log_failure(row: InboxMessage, exc: Exception, *, attempt: int) -> None:
    logger.warning(
        "Handler for %s %s failed (attempt %d): %s",
        row.type,
        row.message_id,
        attempt,
        exc,
        exc_info=True,
    )


def event_of(row: InboxMessage) -> Event:
    return Event(
        message_id=row.message_id,
        type=row.type,
        version=row.version,
        payload=row.payload,
        headers=row.headers,
    )
