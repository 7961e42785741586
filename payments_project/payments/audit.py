"""The ledger audit, shared by `manage.py audit_ledger` and the daily beat task."""

from common.db import without_statement_time_out
from payments_project.payments.models import LedgerAudit
from payments_project.payments.selectors import accounts_out_of_balance


def ledger_audit() -> LedgerAudit:
    """Compare every account's balance with the sum of its ledger entries, and keep the
    result (a LedgerAudit row: the admin and shop_ledger_audit_ok show the last one). Its
    report has one line per account that differs.

    One statement over every account and the whole ledger: on a large shop it takes longer
    than a request may (DB_STATEMENT_TIMEOUT_SECONDS), so it runs without that limit."""
    with without_statement_time_out():
        differences = [
            f"user {account.user_id}: balance {account.balance} != ledger sum "
            f"{account.ledger_sum} (difference {account.balance - account.ledger_sum})"
            for account in accounts_out_of_balance()
        ]
    return LedgerAudit.objects.create(
        accounts_out_of_balance=len(differences), report="\n".join(differences)
    )
