from django.contrib import admin

from common.admin import ReadOnlyAdmin
from common.idempotency.models import IdempotencyRecord


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ["key", "user_id", "response_status", "created_at"]
    search_fields = ["key", "user_id"]
    list_filter = ["response_status"]
    date_hierarchy = "created_at"
