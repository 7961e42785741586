"""Every change to an account goes through these functions, each in one transaction.

Called inside a caller's transaction (an idempotent request, the drain's savepoint for a
message), a function joins it without a savepoint of its own (savepoint=False): its errors
fail the caller's block anyway, and a savepoint would cost two round trips per call.
account_create is the exception: its caller goes on after the unique violation.
"""

import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from common.contracts import PAYMENT_RESULT, payment_result_payload
from common.db import update_rows
from common.messaging import record_events
from common.observability import context, metrics
from payments_project.payments.errors import (
    AccountAlreadyExists,
    AccountNotFound,
    BalanceLimitExceeded,
)
from payments_project.payments.models import MAX_BALANCE, Account, LedgerEntry, Payment

logger = logging.getLogger(__name__)


def account_create(*, user_id: str) -> Account:
    """Open the user's account with a zero balance; one per user, also under races."""
    try:
        # The savepoint keeps an outer transaction usable after the unique violation.
        with transaction.atomic():
            return Account.objects.create(user_id=user_id)
    except IntegrityError as exc:
        raise AccountAlreadyExists(f"User {user_id} already has an account.") from exc


@transaction.atomic(savepoint=False)
def account_deposit(*, user_id: str, amount: Decimal, reference: str | None = None) -> Account:
    """Add `amount` to the user's balance and record it in the ledger.

    The account row is locked (SELECT ... FOR UPDATE) for the rest of the transaction, so a
    concurrent deposit or debit waits and then sees this one's result: no lost update.
    """
    account = Account.objects.select_for_update().filter(user_id=user_id).first()
    if account is None:
        raise AccountNotFound(f"User {user_id} has no account.")
    if account.balance + amount > MAX_BALANCE:
        raise BalanceLimitExceeded(f"A balance cannot exceed {MAX_BALANCE}.")
    account.balance += amount
    account.save(update_fields=["balance", "updated_at"])
    LedgerEntry.objects.create(
        account=account,
        kind=LedgerEntry.Kind.DEPOSIT,
        amount=amount,
        reference=reference or f"deposit-{uuid.uuid4()}",
    )
    transaction.on_commit(metrics.deposits.inc)
    return account


@dataclass(frozen=True)
class OrderToPay:
    """An order Payments was asked to pay. `message_headers`: those of the message that
    asked (its request id and trace), which the answer carries on."""

    order_id: uuid.UUID
    user_id: str
    amount: Decimal
    message_headers: dict = field(default_factory=dict)


def order_pay(*, order_id: uuid.UUID, user_id: str, amount: Decimal) -> Payment:
    """One order (orders_pay for a batch of one)."""
    [payment] = orders_pay([OrderToPay(order_id, user_id, amount)])
    return payment


@transaction.atomic(savepoint=False)
def orders_pay(orders: list[OrderToPay]) -> list[Payment]:
    """Charge each order once: debit its account if it holds enough, record the outcome,
    and answer Orders with it (a "payment result" event per order, in the same
    transaction). Returns each order's payment.

    A constant number of statements whatever the batch's size: one advisory lock statement
    for the orders, one read of their payments, one select_for_update() of their accounts
    in primary-key order, one insert each of payments, ledger entries and outbox rows, one
    balance update. The locks are taken in sorted order, so two batches racing for the same
    orders or accounts wait for each other instead of deadlocking (rule 4: the balance is
    read under the account's lock, so the check and the debit see no concurrent change).

    Two copies of one order (a redelivery, a copy under a new message id, in this batch or
    another drain's) are charged once: the advisory lock on the order id makes a concurrent
    copy wait and then find the payment, also when the user has no account row to lock; a
    copy later in the batch finds the payment made for the first. A repeated order, also
    with another amount or user, is answered with the first payment's outcome. The unique
    order id of Payment and of a charge in the ledger back this up.
    """
    payments = _pay_each_once(orders)
    record_events(
        PAYMENT_RESULT,
        [
            payment_result_payload(
                order_id=payment.order_id,
                user_id=payment.user_id,
                amount=payment.amount,
                succeeded=payment.status == Payment.Status.SUCCEEDED,
                reason=payment.reason,
            )
            for payment in payments
        ],
        continuing=[order.message_headers for order in orders],
    )
    return payments


def _pay_each_once(orders: list[OrderToPay]) -> list[Payment]:
    _lock_orders([order.order_id for order in orders])
    paid = {p.order_id: p for p in Payment.objects.filter(order_id__in=_ids(orders))}
    to_pay = {order.user_id for order in orders if order.order_id not in paid}
    accounts = {
        account.user_id: account
        for account in Account.objects.select_for_update().filter(user_id__in=to_pay).order_by("pk")
    }
    new_payments, charges, debited = [], [], {}
    for order in orders:
        if order.order_id in paid:
            continue  # paid before, or earlier in this batch: its outcome stands
        account = accounts.get(order.user_id)
        if account is None:
            reason = Payment.FailureReason.ACCOUNT_NOT_FOUND
        elif account.balance < order.amount:
            reason = Payment.FailureReason.INSUFFICIENT_FUNDS
        else:
            reason = ""
            account.balance -= order.amount
            debited[account.pk] = account
            charges.append(
                LedgerEntry(
                    account=account,
                    kind=LedgerEntry.Kind.CHARGE,
                    amount=-order.amount,
                    reference=str(order.order_id),
                )
            )
        paid[order.order_id] = payment = _payment(order, reason)
        new_payments.append(payment)
    Payment.objects.bulk_create(new_payments)
    if debited:
        now = timezone.now()
        for account in debited.values():
            account.updated_at = now
        update_rows(Account, list(debited.values()), ["balance", "updated_at"])
        LedgerEntry.objects.bulk_create(charges)
    _log_and_count(new_payments, orders)
    return [paid[order.order_id] for order in orders]


def _ids(orders: list[OrderToPay]) -> set[uuid.UUID]:
    return {order.order_id for order in orders}


def _payment(order: OrderToPay, reason: str) -> Payment:
    return Payment(
        order_id=order.order_id,
        user_id=order.user_id,
        amount=order.amount,
        status=Payment.Status.FAILED if reason else Payment.Status.SUCCEEDED,
        reason=reason,
    )


def _log_and_count(payments: list[Payment], orders: list[OrderToPay]) -> None:
    request_ids = {order.order_id: order.message_headers.get("request_id") for order in orders}
    for payment in payments:
        with context.bound(
            request_id=request_ids[payment.order_id], order_id=str(payment.order_id)
        ):
            if payment.reason:
                logger.info(
                    "Order %s refused: %s (user %s, %s)",
                    payment.order_id, payment.reason, payment.user_id, payment.amount,
                )  # fmt: skip
            else:
                logger.info(
                    "Order %s paid: %s charged to user %s",
                    payment.order_id, payment.amount, payment.user_id,
                )  # fmt: skip
    outcomes = Counter((payment.status, payment.reason) for payment in payments)
    transaction.on_commit(lambda: _count_payments(outcomes))


def _count_payments(outcomes: Counter) -> None:
    for (status, reason), count in outcomes.items():
        metrics.payments.labels(status, reason).inc(count)


def _lock_orders(order_ids: list[uuid.UUID]) -> None:
    """A transaction-scoped advisory lock per order id, all in one statement, in sorted
    order (so that two batches never wait for each other in a circle)."""
    if settings.EMBEDDED_DATABASE:
        return  # SQLite runs one writing transaction at a time anyway
    # A signed 64-bit key from each UUID; released when the transaction ends.
    keys = sorted(
        {int.from_bytes(order_id.bytes[:8], "big", signed=True) for order_id in order_ids}
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(key) FROM unnest(%s::bigint[]) AS key", [keys])
