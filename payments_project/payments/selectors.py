"""Reads of accounts, the ledger and payments."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    F,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TextField,
    Value,
)
from django.db.models.functions import Cast, Coalesce

from payments_project.payments.errors import AccountNotFound
from payments_project.payments.models import Account, LedgerAudit, LedgerEntry, Payment


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


@dataclass(frozen=True)
class OrderPayment:
    """What Payments knows of one order id: its payment record and its ledger charges."""

    order_id: str
    payment: Payment | None
    charges: int
    charged: Decimal  # positive: the sum of the charges' debits
    first_seen_at: datetime


def order_payments_page(*, after: str, limit: int) -> list[OrderPayment]:
    """Up to `limit` order ids with a payment record or a charge, after `after`, in order
    (keyset paging; what the reconciliation in Orders pages through).

    Payments are paged by their order id's index, charges by their reference's (the unique
    index of one charge per order), and the two pages merge into one: an order id is a UUID,
    and UUIDs in their lowercase text sort the same as UUIDs in every collation. A charge
    whose reference is not such an id (none is written so) still shows up under its own
    text; if that breaks the order, the reconciliation stops and says so.
    """
    by_id: dict[str, OrderPayment] = {}
    for payment in payments_after(after=after)[:limit]:
        key = str(payment.order_id)
        by_id[key] = OrderPayment(key, payment, 0, Decimal("0.00"), payment.created_at)
    for row in charges_by_order_after(after=after)[:limit]:
        key, known = row["reference"], by_id.get(row["reference"])
        by_id[key] = OrderPayment(
            order_id=key,
            payment=known.payment if known else None,
            charges=row["count"],
            charged=-row["total"],
            first_seen_at=known.first_seen_at if known else row["first"],
        )
    # The first `limit` ids of the two pages together are the first `limit` of all.
    return [by_id[key] for key in sorted(by_id)[:limit]]


def payments_after(*, after: str) -> QuerySet[Payment]:
    payments = Payment.objects.order_by("order_id")
    if not after:
        return payments
    try:
        return payments.filter(order_id__gt=uuid.UUID(after))
    except ValueError:  # only after an odd charge reference: no index, but the right rows
        return payments.alias(key=Cast("order_id", TextField())).filter(key__gt=after)


def charges_by_order_after(*, after: str) -> QuerySet:
    """Per order id after `after`: the number, sum and first time of its ledger charges."""
    return (
        LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE, reference__gt=after)
        .values("reference")
        .annotate(count=Count("id"), total=Sum("amount"), first=Min("created_at"))
        .order_by("reference")
    )


def last_audit_gauges():
    """The last ledger audit's result and time, as scrape-time gauges; none before the
    first audit (an alert on their absence would page on a new install)."""
    audit = LedgerAudit.objects.order_by("-ran_at").first()
    if audit is None:
        return
    yield (
        "shop_ledger_audit_ok",
        "1 when the last ledger audit found every balance equal to its ledger.",
        1.0 if audit.ok else 0.0,
    )
    yield (
        "shop_ledger_audit_timestamp_seconds",
        "When the last ledger audit ran (Unix time).",
        audit.ran_at.timestamp(),
    )
