"""The inbox drain: run the registered handler of each pending message, once.

A batch of messages is handled in one transaction, which first claims their rows (FOR
UPDATE SKIP LOCKED, so concurrent drains never take the same message), then gives each
type's handler all its messages at once and marks their rows done, in one savepoint: the
handler's effects and the done marks commit together or not at all. If the handler raises,
the savepoint rolls back and each message is handled alone, in a savepoint of its own; a
message whose handler raises then has its attempt recorded on the still-locked row
(retried with backoff, parked as failed after MAX_ATTEMPTS), and the drain moves on. The
events the handlers record are published together after the commit.

One transaction per batch rather than per message: one commit (a disk flush) and one
publish with one confirm wait for the batch, which is what lets one consumer keep up
under load (docs/performance.md). The price: the batch's row locks (an account, say) are
held until the whole batch commits, a few milliseconds per message in it.

The consumer's fast path (handle_together_on_receipt, handle_on_receipt alone) handles
messages as it stores them, in the transaction that stores the batch, so their handling
needs no claim, no done mark and no commit of its own.
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
from common.messaging.types import Event, PermanentFailure, in_lock_order
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
            handled += _handle_claimed_batch(rows, conf)
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


def _handle_claimed_batch(rows: list[InboxMessage], conf: MessagingSettings) -> int:
    """Handle claimed rows a type at a time: each type's handler gets all its messages at
    once, in one savepoint with their done marks. If it raises, the savepoint takes all of
    that back and each message is handled alone (in a savepoint of its own, as a batch of
    one), so a bad message spends only its own attempt. Returns the number handled."""
    handled = 0
    for message_type, group in _by_type(rows, key=lambda row: row.type).items():
        if len(group) > 1 and _handle_together(message_type, group):
            handled += len(group)
        else:
            alone = in_lock_order(message_type, group, lambda row: row.payload)
            handled += sum(_handle(row, conf) for row in alone)
    return handled


def _handle_together(message_type: str, rows: list[InboxMessage]) -> bool:
    try:
        with transaction.atomic(), handling_batch(message_type, len(rows)):
            run_handler(message_type, [event_of(row) for row in rows])
            InboxMessage.objects.filter(pk__in=[row.pk for row in rows]).update(
                status=InboxMessage.Status.DONE,
                processed_at=timezone.now(),
                attempts=F("attempts") + 1,
            )
    except Exception as exc:
        _log_batch_failure(message_type, len(rows), exc)
        return False
    return True


def handle_together_on_receipt(envelopes: list[Envelope], queue: str) -> bool:
    """The fast path for many new messages of one type: their rows go in already marked
    done (one INSERT, duplicates skipped) and the handler gets the new ones at once, all in
    one savepoint. False when that failed (and was rolled back): the caller then handles
    each message alone (handle_on_receipt)."""
    message_type = envelopes[0].type
    try:
        with transaction.atomic(), handling_batch(message_type, len(envelopes)):
            inserted = inbox.insert_many(
                envelopes,
                queue,
                status=InboxMessage.Status.DONE,
                processed_at=timezone.now(),
                attempts=1,
            )
            new = _first_of_each(envelope for envelope in envelopes if envelope.id in inserted)
            if new:
                run_handler(message_type, [event_of_envelope(envelope) for envelope in new])
    except Exception as exc:
        _log_batch_failure(message_type, len(envelopes), exc)
        return False
    return True


def _by_type(items, *, key) -> dict[str, list]:
    groups: dict[str, list] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def _first_of_each(envelopes) -> list[Envelope]:
    """Two copies of one message in a batch: the first is handled, the second a duplicate."""
    seen: set[str] = set()
    return [e for e in envelopes if not (e.id in seen or seen.add(e.id))]


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
            run_handler(row.type, [event_of(row)])
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
            run_handler(row.type, [event_of(row)])
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


@contextmanager
def handling_batch(message_type: str, size: int) -> Iterator[None]:
    """The span of a batch's handling. Its messages' own request ids and traces are the
    handler's to continue (a service logs each item with its request id, and the events it
    records for them carry their headers on: outbox.record_events)."""
    with tracing.span(
        f"{message_type} process", kind="consumer", **{"messaging.batch.message_count": size}
    ):
        yield


def run_handler(message_type: str, events: list[Event]) -> None:
    """The handler of the type, given the events, timed (per event); a failure is raised,
    and counted when it is one message's: a batch that fails is handled again message by
    message, and only the messages that fail then have failed."""
    started = time.perf_counter()
    try:
        handler = handler_for(message_type)
        if handler is None:
            raise LookupError(f"no handler registered for message type {message_type!r}")
        handler(events)
    except Exception:
        if len(events) == 1:
            metrics.handler_failures.labels(message_type).inc()
        raise
    finally:
        elapsed = (time.perf_counter() - started) / len(events)
        observe = metrics.handler_duration.labels(message_type).observe
        for _ in events:
            observe(elapsed)


def _log_failure(row: InboxMessage, exc: Exception, *, attempt: int) -> None:
    logger.warning(
        "Handler for %s %s failed (attempt %d): %s",
        row.type,
        row.message_id,
        attempt,
        exc,
        exc_info=True,
    )


def _log_batch_failure(message_type: str, size: int, exc: Exception) -> None:
    logger.info(
        "A batch of %d %s message(s) failed, handling each alone: %s", size, message_type, exc
    )


def event_of_envelope(envelope: Envelope) -> Event:
    return Event(
        message_id=envelope.id,
        type=envelope.type,
        version=envelope.version,
        payload=envelope.payload,
        headers=envelope.headers,
    )


def event_of(row: InboxMessage) -> Event:
    return Event(
        message_id=row.message_id,
        type=row.type,
        version=row.version,
        payload=row.payload,
        headers=row.headers,
    )
