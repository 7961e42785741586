from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.utils import timezone

from common.admin import ReadOnlyAdmin
from orders_project.orders import selectors
from orders_project.orders.models import Order


class StuckFilter(admin.SimpleListFilter):
    """Orders NEW for longer than the deadline: reported, never cancelled automatically
    (docs/operations.md says what to do with them)."""

    title = "stuck"
    parameter_name = "stuck"

    def lookups(self, request, model_admin):
        minutes = settings.ORDERS_STUCK_AFTER_SECONDS / 60
        return [("yes", f"Stuck: NEW for longer than {minutes:g} min")]

    def queryset(self, request, queryset):
        if self.value() != "yes":
            return queryset
        deadline = timedelta(seconds=settings.ORDERS_STUCK_AFTER_SECONDS)
        stuck = selectors.orders_stuck(now=timezone.now(), older_than=deadline)
        return queryset.filter(pk__in=stuck.values("pk"))


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    """Orders for inspection; their status changes only through the payment flow."""

    list_display = ["id", "user_id", "amount", "status", "reason", "created_at", "updated_at"]
    list_display += ["reask_count"]
    list_filter = [StuckFilter, "status", "reason"]
    search_fields = ["=id", "user_id", "=request_id"]
    date_hierarchy = "created_at"
    readonly_fields = [*list_display, "description", "request_id", "next_reask_at"]
    readonly_fields += ["stuck_reported_at"]
