"""Outbox and inbox in the Django admin: find a message, read it, retry or requeue it."""

import json

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.html import format_html

from common.admin import ReadOnlyAdmin
from common.messaging.models import InboxMessage, OutboxMessage
from common.messaging.tasks import wake_drain, wake_relay


class MessageAdmin(ReadOnlyAdmin):
    """Read-only views of message rows, with the two operator actions."""

    list_filter = ["status", "type"]
    # "payload" searches the JSON text, so an order id or a user id inside it finds the row.
    search_fields = ["payload", "headers"]
    actions = ["retry_now", "requeue_failed"]
    list_per_page = 50
    wake = staticmethod(lambda: None)

    @admin.display(description="payload")
    def pretty_payload(self, obj) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True))

    @admin.display(description="headers")
    def pretty_headers(self, obj) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.headers, indent=2, sort_keys=True))

    @admin.action(description="Retry now (pending rows: skip the backoff wait)")
    def retry_now(self, request, queryset: QuerySet):
        count = queryset.filter(status="pending").update(next_attempt_at=timezone.now())
        self.wake()
        self.message_user(request, f"{count} pending message(s) will be retried now.")

    @admin.action(description="Requeue failed (attempts reset to 0)")
    def requeue_failed(self, request, queryset: QuerySet):
        count = queryset.filter(status="failed").update(
            status="pending", attempts=0, next_attempt_at=timezone.now()
        )
        self.wake()
        level = messages.SUCCESS if count else messages.WARNING
        self.message_user(request, f"{count} failed message(s) requeued.", level=level)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(MessageAdmin):
    list_display = ["id", "type", "destination", "status", "attempts", "created_at", "sent_at"]
    search_fields = ["id", *MessageAdmin.search_fields]
    readonly_fields = [
        "id", "type", "version", "destination", "status", "attempts", "next_attempt_at",
        "last_error", "created_at", "sent_at", "pretty_payload", "pretty_headers",
    ]  # fmt: skip
    exclude = ["payload", "headers"]
    date_hierarchy = "created_at"
    wake = staticmethod(wake_relay)


@admin.register(InboxMessage)
class InboxMessageAdmin(MessageAdmin):
    list_display = ["message_id", "type", "source_queue", "status", "attempts", "received_at"]
    search_fields = ["message_id", *MessageAdmin.search_fields]
    readonly_fields = [
        "message_id", "type", "version", "source_queue", "status", "attempts",
        "next_attempt_at", "last_error", "received_at", "processed_at", "pretty_payload",
        "pretty_headers", "raw_body",
    ]  # fmt: skip
    exclude = ["payload", "headers"]
    date_hierarchy = "received_at"
    wake = staticmethod(wake_drain)
