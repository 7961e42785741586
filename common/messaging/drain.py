"""The inbox drain: run the registered handler of each pending message, once.

Each message is handled in its own transaction, which first claims the row (FOR UPDATE
SKIP LOCKED, so concurrent drains never take the same message), then runs the handler and
marks the row done inside a savepoint: the handler's effect and the done mark commit
together or not at all. If the handler raises, only that savepoint rolls back; the attempt
is recorded on the still-locked row (retried with backoff, parked as failed after
MAX_ATTEMPTS) and the drain moves on to the next message.
"""

import logging
from functools import cache

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from common.messaging.conf import messaging_settings
from common.messaging.events import Event, PermanentFailure
from common.messaging.models import InboxMessage
from common.messaging.retries import record_failure

logger = logging.getLogger(__name__)

ORDER = ("next_attempt_at", "received_at")


def drain_inbox(*, batch_size: int | None = None, max_messages: int = 10_000) -> int:
    """Handle due pending messages until none is left (or `max_messages` keeps one run
    bounded). Returns the number handled successfully."""
    conf = messaging_settings()
    batch_size = batch_size or conf.BATCH_SIZE
    handled = attempted = 0
    while attempted < max_messages:
        # Candidates are read without locks; each is claimed for real in its own
        # transaction below, and skipped if another drain got it first.
        candidate_ids = list(
            InboxMessage.objects.filter(
                status=InboxMessage.Status.PENDING, next_attempt_at__lte=timezone.now()
            )
            .order_by(*ORDER)
            .values_list("id", flat=True)[:batch_size]
        )
        if not candidate_ids:
            break
        outcomes = [handle_one(row_id) for row_id in candidate_ids]
        attempted += sum(outcome is not None for outcome in outcomes)
        handled += sum(outcome is True for outcome in outcomes)
        # A short batch means the inbox is drained; a batch of which this drain claimed
        # nothing is being handled by another drain: leave it to that one.
        if len(candidate_ids) < batch_size or all(outcome is None for outcome in outcomes):
            break
    return handled


def handle_one(row_id: int) -> bool | None:
    """Claim and handle one inbox row: True done, False failed attempt, None not claimed."""
    return _claim_and_handle(id=row_id)


def handle_received(message_id: str) -> bool | None:
    """The fast path: the consumer handles a message it has just stored, at once, instead
    of waking a drain task. The same claim and transaction as the drain; a message another
    drain holds is left to it, and one that fails is retried by the drain as usual."""
    return _claim_and_handle(message_id=message_id)


def _claim_and_handle(**row) -> bool | None:
    conf = messaging_settings()
    with transaction.atomic():
        row = (
            InboxMessage.objects.select_for_update(skip_locked=True)
            .filter(
                **row,
                status=InboxMessage.Status.PENDING,
                # Checked again here: another drain may have failed it and set a backoff
                # since this drain read its candidates.
                next_attempt_at__lte=timezone.now(),
            )
            .first()
        )
        if row is None:
            return None  # another drain holds it, or it is not due any more
        try:
            with transaction.atomic():
                handler_for(row.type)(event_of(row))
                # An UPDATE, not row.save(): if it failed, the row in memory would still
                # say pending for record_failure below.
                InboxMessage.objects.filter(pk=row.pk).update(
                    status=InboxMessage.Status.DONE,
                    processed_at=timezone.now(),
                    attempts=F("attempts") + 1,
                )
        except Exception as exc:
            logger.warning(
                "Handler for %s %s failed (attempt %d): %s",
                row.type,
                row.message_id,
                row.attempts + 1,
                exc,
                exc_info=True,
            )
            record_failure(row, exc, conf, permanent=isinstance(exc, PermanentFailure))
            return False
    return True


def event_of(row: InboxMessage) -> Event:
    return Event(
        message_id=row.message_id,
        type=row.type,
        version=row.version,
        payload=row.payload,
        headers=row.headers,
    )


def handler_for(message_type: str):
    path = messaging_settings().HANDLERS.get(message_type)
    if path is None:
        raise LookupError(f"no handler registered for message type {message_type!r}")
    return _import(path)


@cache
def _import(path: str):
    return import_string(path)
