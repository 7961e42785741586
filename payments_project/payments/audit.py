"""The ledger audit, shared by `manage.py audit_ledger` and the daily beat task."""

from common.db import without_statement_time_out
from payments_project.payments.selectors import accounts_out_of_balance


def ledger_differences() -> list[str]:
    """One line per account whose balance differs from the sum of its ledger entries.

    One statement over every account and the whole ledger: on a large shop it takes longer
    than a request may (DB_STATEMENT_TIMEOUT_SECONDS), so it runs without that limit."""
    with without_statement_time_out():
        return [
            f"user {account.user_id}: balance {account.balance} != ledger sum "
            f"{account.ledger_sum} (difference {account.balance - account.ledger_sum})"
            for account in accounts_out_of_balance()
        ]
