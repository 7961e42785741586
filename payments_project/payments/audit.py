"""The ledger audit, shared by `manage.py audit_ledger` and the daily beat task."""

from payments_project.payments.selectors import accounts_out_of_balance


def ledger_differences() -> list[str]:
    """One line per account whose balance differs from the sum of its ledger entries."""
    return [
        f"user {account.user_id}: balance {account.balance} != ledger sum {account.ledger_sum} "
        f"(difference {account.balance - account.ledger_sum})"
        for account in accounts_out_of_balance()
    ]
