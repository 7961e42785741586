"""What an operator (or a metrics scrape) asks of the outbox and inbox."""

from django.db.models import Count, Min, Q
from django.utils import timezone

from common.messaging.models import InboxMessage, OutboxMessage


def backlog() -> dict[str, dict]:
    """Per table: pending and failed counts, and the age in seconds of the oldest pending row."""
    now = timezone.now()
    report = {}
    for name, model, received in (
        ("outbox", OutboxMessage, "created_at"),
        ("inbox", InboxMessage, "received_at"),
    ):
        stats = model.objects.aggregate(
            pending=Count("pk", filter=Q(status="pending")),
            failed=Count("pk", filter=Q(status="failed")),
            oldest_pending=Min(received, filter=Q(status="pending")),
        )
        oldest = stats.pop("oldest_pending")
        stats["oldest_pending_age_seconds"] = (
            round((now - oldest).total_seconds(), 3) if oldest else None
        )
        report[name] = stats
    return report
