"""Every change to an account goes through these functions, each in one transaction."""

import uuid
from decimal import Decimal

from django.db import IntegrityError, transaction

from payments_project.payments.errors import (
    AccountAlreadyExists,
    AccountNotFound,
    BalanceLimitExceeded,
)
from payments_project.payments.models import MAX_BALANCE, Account, LedgerEntry


def account_create(*, user_id: str) -> Account:
    """Open the user's account with a zero balance; one per user, also under races."""
    try:
        # The savepoint keeps an outer transaction usable after the unique violation.
        with transaction.atomic():
            return Account.objects.create(user_id=user_id)
    except IntegrityError as exc:
        raise AccountAlreadyExists(f"User {user_id} already has an account.") from exc


@transaction.atomic
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
    return account
