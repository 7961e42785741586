"""What an operator (or a metrics scrape) asks of the outbox and inbox.

Cheap on large tables: pending rows are counted through the partial index on them, failed
ones through the (status, type) index; nothing reads the sent or done rows.
"""

from django.db.models import Count, Min
from django.utils import timezone

from common.messaging.models import InboxMessage, OutboxMessage

TABLES = (("outbox", OutboxMessage, "created_at"), ("inbox", InboxMessage, "received_at"))


def backlog() -> dict[str, dict]:
    """Per table: pending and failed counts, and the age in seconds of the oldest pending row."""
    now = timezone.now()
    report = {}
    for name, model, received in TABLES:
        pending = model.objects.filter(status="pending").aggregate(
            pending=Count("pk"), oldest_pending=Min(received)
        )
        oldest = pending["oldest_pending"]
        report[name] = {
            "pending": pending["pending"],
            "failed": model.objects.filter(status="failed").count(),
            "oldest_pending_age_seconds": (
                round((now - oldest).total_seconds(), 3) if oldest else None
            ),
        }
    return report


def backlog_gauges():
    """The backlog as scrape-time gauges (common/observability/scrape_time.py)."""
    for table, figures in backlog().items():
        yield f"shop_{table}_pending", f"{table.capitalize()} rows pending.", figures["pending"]
        yield (
            f"shop_{table}_oldest_pending_seconds",
            f"Age of the oldest pending {table} row (0 when none).",
            figures["oldest_pending_age_seconds"] or 0.0,
        )
        yield (
            f"shop_{table}_failed",
            f"{table.capitalize()} rows parked as failed.",
            figures["failed"],
        )
