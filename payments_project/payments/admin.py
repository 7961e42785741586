"""Admin for inspection. Balances change only through the service functions (each with a
ledger entry), so nothing here can edit a balance or a ledger entry."""

from django.contrib import admin

from common.admin import ReadOnlyAdmin
from payments_project.payments.models import Account, LedgerAudit, LedgerEntry, Payment


class LedgerEntryInline(admin.TabularInline):
    model = LedgerEntry
    fields = ["created_at", "kind", "amount", "reference"]
    readonly_fields = fields
    ordering = ["-created_at"]
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["user_id", "balance", "created_at", "updated_at"]
    search_fields = ["user_id"]
    readonly_fields = ["user_id", "balance", "created_at", "updated_at"]
    inlines = [LedgerEntryInline]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "account", "kind", "amount", "reference"]
    list_filter = ["kind"]
    search_fields = ["reference", "account__user_id"]
    list_select_related = ["account"]
    date_hierarchy = "created_at"


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["order_id", "user_id", "amount", "status", "reason", "created_at"]
    list_filter = ["status", "reason"]
    search_fields = ["=order_id", "user_id"]
    date_hierarchy = "created_at"


@admin.register(LedgerAudit)
class LedgerAuditAdmin(ReadOnlyAdmin):
    list_display = ["ran_at", "accounts_out_of_balance"]
    readonly_fields = ["ran_at", "accounts_out_of_balance", "report"]
