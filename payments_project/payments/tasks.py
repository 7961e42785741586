"""Payments' periodic tasks (scheduled in settings.CELERY_BEAT_SCHEDULE): thin, with
stable names."""

import logging

from celery import shared_task

from payments_project.payments.audit import ledger_audit

logger = logging.getLogger(__name__)


@shared_task(name="payments.audit_ledger", ignore_result=True)
def audit_ledger() -> int:
    """What `manage.py audit_ledger` does, daily: the result in the log."""
    audit = ledger_audit()
    if audit.ok:
        logger.info("Ledger audit clean: every balance equals its ledger sum.")
    else:
        logger.error(
            "Ledger audit failed: %d account(s) out of balance:\n%s",
            audit.accounts_out_of_balance,
            audit.report,
        )
    return audit.accounts_out_of_balance
