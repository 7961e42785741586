"""The relay: publish pending outbox rows, mark them sent only once the broker confirmed.

Several relays may run at once (scale-out, an overlapping beat, the worker's listener): each
claims its batch with SELECT ... FOR UPDATE SKIP LOCKED, marking it sent in the same
statement, and holds the row locks until it has published the batch and unmarked the rows
the broker did not confirm, so no two relays publish the same row at the same time. A crash
after publishing and before the mark commits leaves the rows pending: they are published
again, and the receiver's inbox absorbs the duplicate (at-least-once delivery,
exactly-once effect).
"""

import logging

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from common.db import commit_without_waiting_for_the_disk
from common.messaging.broker import BatchOutcome, Outgoing, publisher
from common.messaging.conf import MessagingSettings, messaging_settings
from common.messaging.envelope import Envelope
from common.messaging.models import OutboxMessage
from common.messaging.retries import claim_due_rows, record_failure
from common.observability import metrics

logger = logging.getLogger(__name__)

ORDER = ("next_attempt_at", "created_at")


def relay_outbox(*, batch_size: int | None = None, max_batches: int = 100) -> int:
    """Publish due pending rows, batch after batch, until none is left (or the broker is
    down, or `max_batches` keeps one run bounded). Returns the number published."""
    conf = messaging_settings()
    batch_size = batch_size or conf.RELAY_BATCH_SIZE
    published = 0
    for _ in range(max_batches):
        with transaction.atomic():
            commit_without_waiting_for_the_disk()  # a lost mark only publishes again
            rows = _claim_due_marking_sent(batch_size)
            if not rows:
                break
            sent, broker_down = _publish_marked(rows, conf, conf.CONFIRM_TIMEOUT_SECONDS)
        published += len(sent)
        if broker_down or len(rows) < batch_size:
            break
    return published


# The fast path waits this long at most for a confirm: it runs in a web request or a
# consumer, and what it cannot publish now the sweep publishes within a second anyway.
AFTER_COMMIT_CONFIRM_TIMEOUT_SECONDS = 2.0


def publish_after_commit(ids: list) -> None:
    """The fast path, called right after the transaction that recorded these rows
    committed, in the process that committed it: publish them now, instead of waking a
    relay task (a Celery task per event costs more than the publish itself).

    The same claim as the relay (FOR UPDATE SKIP LOCKED: a row a sweeping relay holds is
    left to it) and the same confirm rule. It never raises: the caller's transaction has
    committed, and whatever is not published here is published by the next sweep.
    """
    conf = messaging_settings()
    try:
        with transaction.atomic():
            commit_without_waiting_for_the_disk()  # a lost mark only publishes again
            rows = _claim_marking_sent(ids)
            if rows:
                timeout = min(conf.CONFIRM_TIMEOUT_SECONDS, AFTER_COMMIT_CONFIRM_TIMEOUT_SECONDS)
                _publish_marked(rows, conf, timeout)
    except Exception as exc:
        logger.warning("Publishing after commit failed (the sweep will): %s", exc)


def _publish_marked(
    rows: list[OutboxMessage], conf: MessagingSettings, confirm_timeout: float
) -> tuple[list, bool]:
    """Publish rows claimed already marked sent, then undo the mark of those the broker did
    not confirm, in the claim's transaction (so no one ever sees the mark otherwise);
    returns (confirmed ids, outage)."""
    outcome = _publish(rows, conf, confirm_timeout=confirm_timeout)
    confirmed = set(outcome.confirmed)
    if unconfirmed := [row.id for row in rows if str(row.id) not in confirmed]:
        OutboxMessage.objects.filter(id__in=unconfirmed).update(
            status=OutboxMessage.Status.PENDING, sent_at=None
        )
    return _record_outcome(rows, outcome, conf)


# Claims mark the rows sent in the same statement (one UPDATE ... RETURNING on PostgreSQL):
# the relay and the fast path run per request or per wake-up, and a claim and a mark through
# the ORM cost them twice the CPU. The caller undoes the mark of any row the broker does not
# confirm before its transaction commits (_publish_marked). The rows come back as they were
# before the mark (pending). In the embedded mode (SQLite, EMBEDDED_DATABASE) the ORM's
# claim and mark.


def _claim_marking_sent(ids: list) -> list[OutboxMessage]:
    """The pending rows among `ids` that no one else holds (FOR UPDATE SKIP LOCKED)."""
    pending = OutboxMessage.Status.PENDING
    if settings.EMBEDDED_DATABASE:
        return _mark_claimed(
            OutboxMessage.objects.select_for_update(skip_locked=True).filter(
                id__in=ids, status=pending
            )
        )
    return _claim_marking_sent_sql("id = ANY(%s) AND status = %s", [list(ids), pending])


def _claim_due_marking_sent(batch_size: int) -> list[OutboxMessage]:
    """Up to `batch_size` due pending rows that no one else holds, oldest first."""
    if settings.EMBEDDED_DATABASE:
        return _mark_claimed(claim_due_rows(OutboxMessage, batch_size, order=ORDER))
    rows = _claim_marking_sent_sql(
        "status = %s AND next_attempt_at <= %s ORDER BY next_attempt_at, created_at LIMIT %s",
        [OutboxMessage.Status.PENDING, timezone.now(), batch_size],
    )
    # UPDATE ... RETURNING gives no order: publish the oldest first, as claimed.
    return sorted(rows, key=lambda row: (row.next_attempt_at, row.created_at))


def _mark_claimed(claimed) -> list[OutboxMessage]:
    rows = list(claimed)
    mark_sent([row.id for row in rows])
    return rows


def _claim_marking_sent_sql(condition: str, params: list) -> list[OutboxMessage]:
    table = connection.ops.quote_name(OutboxMessage._meta.db_table)
    rows = list(
        OutboxMessage.objects.raw(
            f"""
            WITH claimed AS (
                SELECT id FROM {table} WHERE {condition}
                FOR UPDATE SKIP LOCKED
            )
            UPDATE {table} AS outbox SET status = %s, sent_at = %s, last_error = ''
            FROM claimed WHERE outbox.id = claimed.id
            RETURNING outbox.*
            """,  # noqa: S608 - the table name is quoted, the condition ours, values parameters
            [*params, OutboxMessage.Status.SENT, timezone.now()],
        )
    )
    for row in rows:
        row.status, row.sent_at = OutboxMessage.Status.PENDING, None
    return rows


def _publish(
    rows: list[OutboxMessage], conf: MessagingSettings, *, confirm_timeout: float | None = None
) -> BatchOutcome:
    """Publish the claimed rows as one confirmed batch."""
    metrics.batch_size.labels("relay").observe(len(rows))
    return publisher.publish_batch(
        [
            Outgoing(
                queue=conf.queue_name(row.destination),
                body=envelope_of(row, conf).to_body(),
                message_id=str(row.id),
                message_type=row.type,
                headers={**row.headers, "version": row.version},
            )
            for row in rows
        ],
        confirm_timeout=confirm_timeout or conf.CONFIRM_TIMEOUT_SECONDS,
    )


def _record_outcome(
    rows: list[OutboxMessage], outcome: BatchOutcome, conf: MessagingSettings
) -> tuple[list, bool]:
    """Count an attempt on each row the broker refused; returns (confirmed ids, outage)."""
    confirmed = set(outcome.confirmed)
    for row in rows:
        if (reason := outcome.rejected.get(str(row.id))) is not None:
            record_failure(row, reason, conf)
        elif str(row.id) in confirmed:
            metrics.messages_published.labels(row.type).inc()
    if outcome.rejected:
        metrics.publish_failures.labels("rejected").inc(len(outcome.rejected))
    if unconfirmed := len(rows) - len(confirmed) - len(outcome.rejected):
        metrics.publish_failures.labels("unconfirmed").inc(unconfirmed)
    if outcome.outage:
        # An outage is nobody's fault: unconfirmed rows stay pending for the next run and
        # spend no attempt. The beat sweep retries within SWEEP_INTERVAL_SECONDS.
        logger.warning("Broker unavailable, %d message(s) wait: %s", unconfirmed, outcome.outage)
    return outcome.confirmed, outcome.outage is not None


def envelope_of(row: OutboxMessage, conf: MessagingSettings) -> Envelope:
    return Envelope(
        id=str(row.id),
        type=row.type,
        version=row.version,
        payload=row.payload,
        source=conf.SERVICE,
        occurred_at=row.created_at.isoformat(),
        headers=row.headers,
    )


def mark_sent(ids: list) -> None:
    """Mark confirmed rows sent (called only after the broker confirmed each of them)."""
    if ids:
        OutboxMessage.objects.filter(id__in=ids).update(
            status=OutboxMessage.Status.SENT, sent_at=timezone.now(), last_error=""
        )
