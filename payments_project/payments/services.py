"""Every change to an account goes through these functions, each in one transaction.

Called inside a caller's transaction (an idempotent request, the drain's savepoint for a
message), a function joins it without a savepoint of its own (savepoint=False): its errors
fail the caller's block anyway, and a savepoint would cost two round trips per call.
account_create is the exception: its caller goes on after the unique violation.
"""

import logging
import uuid
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from common.contracts import PAYMENT_RESULT, payment_result_payload
from common.messaging import record_event
from common.observability import metrics
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


@transaction.atomic(savepoint=False)
def order_pay(*, order_id: uuid.UUID, user_id: str, amount: Decimal) -> Payment:
    """Charge an order once: debit the account if it holds enough, record the outcome, and
    answer Orders with it (a "payment result" event, in the same transaction).

    Two copies of one order (a redelivery, or a copy under a new message id) may be handled
    at once by two drains; a transaction-scoped advisory lock on the order id makes the
    second wait for the first and then find its outcome, also when the user has no account
    row to lock. The unique order id of Payment and of a charge in the ledger back this up.
    The account row is locked before the balance is read, so the check and the debit see no
    concurrent change (rule 4). A repeated order, also with another amount or user, is
    answered with the first payment's outcome.
    """
    payment = _pay_once(order_id, user_id, amount)
    record_event(
        PAYMENT_RESULT,
        payload=payment_result_payload(
            order_id=payment.order_id,
            user_id=payment.user_id,
            amount=payment.amount,
            succeeded=payment.status == Payment.Status.SUCCEEDED,
            reason=payment.reason,
        ),
    )  # with the request id and trace of the order's message (common/messaging/drain.py)
    return payment


def _pay_once(order_id: uuid.UUID, user_id: str, amount: Decimal) -> Payment:
    _lock_order(order_id)
    if (existing := Payment.objects.filter(order_id=order_id).first()) is not None:
        return existing
    account = Account.objects.select_for_update().filter(user_id=user_id).first()
    if account is None:
        return _record_payment(order_id, user_id, amount, Payment.FailureReason.ACCOUNT_NOT_FOUND)
    if account.balance < amount:
        return _record_payment(order_id, user_id, amount, Payment.FailureReason.INSUFFICIENT_FUNDS)
    account.balance -= amount
    account.save(update_fields=["balance", "updated_at"])
    LedgerEntry.objects.create(
        account=account, kind=LedgerEntry.Kind.CHARGE, amount=-amount, reference=str(order_id)
    )
    return _record_payment(order_id, user_id, amount, reason="")


def _lock_order(order_id: uuid.UUID) -> None:
    if settings.EMBEDDED_DATABASE:
        return  # SQLite runs one writing transaction at a time anyway
    # A signed 64-bit key from the UUID; released when the transaction ends.
    key = int.from_bytes(order_id.bytes[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _record_payment(order_id, user_id: str, amount: Decimal, reason: str) -> Payment:
    payment = Payment.objects.create(
        order_id=order_id,
        user_id=user_id,
        amount=amount,
        status=Payment.Status.FAILED if reason else Payment.Status.SUCCEEDED,
        reason=reason,
    )
    if reason:
        logger.info("Order %s refused: %s (user %s, %s)", order_id, reason, user_id, amount)
    else:
        logger.info("Order %s paid: %s charged to user %s", order_id, amount, user_id)
    transaction.on_commit(metrics.payments.labels(payment.status, reason).inc)
    return payment
