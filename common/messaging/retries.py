"""Claiming due rows, retry timing and parking: shared by the relay (outbox, publish
errors) and the drain (inbox, handler errors)."""

import random
from datetime import timedelta

from django.utils import timezone

from common.messaging.conf import MessagingSettings
from common.observability import metrics

ERROR_LIMIT = 4000


def retry_delay(attempts: int, conf: MessagingSettings) -> timedelta:
    """Exponential backoff with jitter: BASE * 2**(attempts-1), capped, times 0.5..1.0.

    Jitter spreads retries of many rows that failed together (say during an outage)."""
    ceiling = min(conf.BACKOFF_MAX_SECONDS, conf.BACKOFF_BASE_SECONDS * 2 ** (attempts - 1))
    return timedelta(seconds=ceiling * random.uniform(0.5, 1.0))  # noqa: S311 - not crypto


def record_failure(
    row, error: BaseException | str, conf: MessagingSettings, *, permanent: bool = False
) -> None:
    """Count a failed attempt on an outbox or inbox row: retry later, or park it as failed
    (after MAX_ATTEMPTS, or at once when the failure is `permanent`).

    The caller holds the row's lock and saves nothing else on it afterwards.
    """
    row.attempts += 1
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    row.last_error = text[:ERROR_LIMIT]
    if permanent or row.attempts >= conf.MAX_ATTEMPTS:
        row.status = row.Status.FAILED
        # An inbox row names the queue it came from, an outbox row the one it goes to.
        queue = getattr(row, "source_queue", None) or getattr(row, "destination", "")
        metrics.messages_parked.labels(queue).inc()
    else:
        row.next_attempt_at = timezone.now() + retry_delay(row.attempts, conf)
    row.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])


def claim_due_rows(model, batch_size: int, *, order: tuple[str, ...]) -> list:
    """Lock up to `batch_size` due pending rows that no one else holds.

    SELECT ... FOR UPDATE SKIP LOCKED: concurrent relays or drains each get other rows
    instead of waiting; the partial index on pending rows keeps this cheap.
    """
    return list(
        model.objects.select_for_update(skip_locked=True)
        .filter(status=model.Status.PENDING, next_attempt_at__lte=timezone.now())
        .order_by(*order)[:batch_size]
    )
