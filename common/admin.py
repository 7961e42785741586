"""Admin conventions shared by the services."""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shows rows for inspection; nobody adds, edits or deletes them here.

    Balances, ledger entries, orders and messages change only through the service
    functions (and the messaging admin's own actions), so the admin cannot make a balance
    disagree with its ledger or make a parked message disappear.
    """

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
