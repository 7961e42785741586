"""The ledger's guarantees: database constraints and the audit_ledger command."""

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError

from payments_project.payments import services
from payments_project.payments.models import Account, LedgerEntry

pytestmark = pytest.mark.django_db


def test_database_refuses_a_negative_balance(user_id):
    services.account_create(user_id=user_id)

    with pytest.raises(IntegrityError, match="account_balance_not_negative"):
        Account.objects.filter(user_id=user_id).update(balance=Decimal("-0.01"))


def test_database_refuses_a_second_charge_for_one_order(user_id):
    account = services.account_create(user_id=user_id)
    LedgerEntry.objects.create(account=account, kind="charge", amount=-1, reference="order-1")

    with pytest.raises(IntegrityError, match="ledger_one_charge_per_order"):
        LedgerEntry.objects.create(account=account, kind="charge", amount=-2, reference="order-1")


@pytest.mark.parametrize(("kind", "amount"), [("deposit", -1), ("charge", 1), ("deposit", 0)])
def test_database_refuses_an_entry_whose_sign_contradicts_its_kind(user_id, kind, amount):
    account = services.account_create(user_id=user_id)

    with pytest.raises(IntegrityError, match="ledger_entry_sign_matches_kind"):
        LedgerEntry.objects.create(account=account, kind=kind, amount=amount, reference="r")


def test_audit_is_clean_when_balances_match_the_ledger(capsys):
    for user in ("a", "b"):
        services.account_create(user_id=user)
        services.account_deposit(user_id=user, amount=Decimal("12.34"))
    services.account_create(user_id="empty")

    call_command("audit_ledger")

    assert "clean" in capsys.readouterr().out


def test_audit_reports_a_balance_changed_behind_the_ledger(capsys):
    services.account_create(user_id="honest")
    services.account_deposit(user_id="honest", amount=Decimal("10.00"))
    services.account_create(user_id="tampered")
    services.account_deposit(user_id="tampered", amount=Decimal("10.00"))
    Account.objects.filter(user_id="tampered").update(balance=Decimal("99.00"))

    with pytest.raises(CommandError, match="1 account"):
        call_command("audit_ledger")

    report = capsys.readouterr().err
    assert "tampered" in report
    assert "99.00" in report
    assert "10.00" in report
    assert "honest" not in report
