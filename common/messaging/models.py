import uuid

from django.db import models
from django.utils import timezone


class RetryState(models.Model):
    """What the relay (outbox) and the drain (inbox) record of the attempts on a row;
    common/messaging/retries.py reads and writes it."""

    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)

    class Meta:
        abstract = True


class OutboxMessage(RetryState):
    """An event waiting to be (or already) published; written in the business transaction."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"

    # Also the message id on the wire: the receiver's inbox deduplicates on it.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=100)
    version = models.PositiveSmallIntegerField(default=1)
    destination = models.CharField(max_length=200, help_text="Logical queue name.")
    payload = models.JSONField()
    headers = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The relay's claim query touches pending rows only; sent rows pile up until
            # cleanup and must not slow it down.
            models.Index(
                fields=["next_attempt_at", "created_at"],
                condition=models.Q(status="pending"),
                name="outbox_pending_idx",
            ),
            models.Index(fields=["status", "type"], name="outbox_status_type_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id} ({self.status})"


class InboxMessage(RetryState):
    """A received message, stored once per message id, then handled by the drain."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"

    # Unique: the consumer inserts with ON CONFLICT DO NOTHING on it, so a redelivered or
    # duplicated message is absorbed. A string, so a malformed message can be kept too.
    message_id = models.CharField(max_length=200, unique=True)
    type = models.CharField(max_length=100, blank=True)
    version = models.PositiveSmallIntegerField(default=1)
    source_queue = models.CharField(max_length=200, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    # The body as received, kept only when it could not be parsed (for the operator).
    raw_body = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at", "received_at"],
                condition=models.Q(status="pending"),
                name="inbox_pending_idx",
            ),
            models.Index(fields=["status", "type"], name="inbox_status_type_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type or 'malformed'} {self.message_id} ({self.status})"
