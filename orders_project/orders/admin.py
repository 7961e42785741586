from django.contrib import admin

from common.admin import ReadOnlyAdmin
from orders_project.orders.models import Order


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    """Orders for inspection; their status changes only through the payment flow."""

    list_display = ["id", "user_id", "amount", "status", "reason", "created_at", "updated_at"]
    list_filter = ["status", "reason"]
    search_fields = ["=id", "user_id"]
    date_hierarchy = "created_at"
    readonly_fields = [*list_display, "description"]
