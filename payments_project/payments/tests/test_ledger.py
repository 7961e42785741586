"""The ledger's guarantees: database constraints, the audit_ledger command and its daily task."""

import logging
from decimal import Decimal

import pytest
from celery.schedules import crontab
from django.core.management import CommandError, call_command
from django.db import IntegrityError

from payments_project.celery import app
from payments_project.payments import services, tasks
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


def test_the_daily_audit_task_logs_clean_at_info_and_a_difference_at_error(caplog):
    services.account_create(user_id="tampered")
    services.account_deposit(user_id="tampered", amount=Decimal("10.00"))

    with caplog.at_level(logging.INFO, logger="payments_project.payments.tasks"):
        assert tasks.audit_ledger() == 0
        Account.objects.filter(user_id="tampered").update(balance=Decimal("99.00"))
        assert tasks.audit_ledger() == 1

    clean, failed = caplog.records
    assert (clean.levelname, failed.levelname) == ("INFO", "ERROR")
    assert "clean" in clean.getMessage()
    assert "user tampered: balance 99.00 != ledger sum 10.00" in failed.getMessage()


def test_the_payments_beat_runs_the_audit_daily_beside_the_shared_sweeps():
    app.loader.import_default_modules()  # what a worker does at start: autodiscovery
    schedule = {entry["task"]: entry["schedule"] for entry in app.conf.beat_schedule.values()}

    assert {"messaging.relay_outbox", "messaging.drain_inbox", "payments.audit_ledger"} <= set(
        schedule
    )
    assert schedule["payments.audit_ledger"] == crontab(hour=3, minute=0)
    assert set(app.tasks) >= set(schedule)
