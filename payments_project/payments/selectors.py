"""Reads of accounts and the ledger."""

from decimal import Decimal

from django.db.models import DecimalField, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from payments_project.payments.errors import AccountNotFound
from payments_project.payments.models import Account, LedgerEntry


def account_get(*, user_id: str) -> Account:
    account = Account.objects.filter(user_id=user_id).first()
    if account is None:
        raise AccountNotFound(f"User {user_id} has no account.")
    return account


def accounts_out_of_balance() -> QuerySet[Account]:
    """Accounts whose balance differs from the sum of their ledger entries."""
    ledger_sum = (
        LedgerEntry.objects.filter(account=OuterRef("pk"))
        .values("account")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    zero = Value(Decimal("0.00"), output_field=DecimalField(max_digits=18, decimal_places=2))
    return (
        Account.objects.annotate(ledger_sum=Coalesce(Subquery(ledger_sum), zero))
        .filter(~Q(balance=F("ledger_sum")))
        .order_by("id")
    )
