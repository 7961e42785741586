"""Delete sent outbox rows and done inbox rows past the retention, in bounded batches.

Pending and failed rows are never deleted: they are work still to do or for an operator.
The inbox keeps done rows for the retention so a message redelivered within it is still
recognised as a duplicate.
"""

from datetime import timedelta

from django.utils import timezone

from common.messaging.conf import messaging_settings
from common.messaging.models import InboxMessage, OutboxMessage


def delete_old_messages() -> dict[str, int]:
    conf = messaging_settings()
    cutoff = timezone.now() - timedelta(days=conf.RETENTION_DAYS)
    return {
        "outbox": _delete_in_batches(
            OutboxMessage.objects.filter(status=OutboxMessage.Status.SENT, sent_at__lt=cutoff),
            conf.CLEANUP_BATCH_SIZE,
        ),
        "inbox": _delete_in_batches(
            InboxMessage.objects.filter(status=InboxMessage.Status.DONE, processed_at__lt=cutoff),
            conf.CLEANUP_BATCH_SIZE,
        ),
    }


def _delete_in_batches(queryset, batch_size: int) -> int:
    # Short transactions: a big backlog never holds locks for long or bloats one commit.
    deleted = 0
    while ids := list(queryset.values_list("pk", flat=True)[:batch_size]):
        deleted += queryset.model.objects.filter(pk__in=ids).delete()[0]
    return deleted
