"""Payments' periodic tasks (scheduled in settings.CELERY_BEAT_SCHEDULE): thin, with
stable names."""

import logging

from celery import shared_task

from payments_project.payments.audit import ledger_differences

logger = logging.getLogger(__name__)


@shared_task(name="payments.audit_ledger", ignore_result=True)
def audit_ledger() -> int:
    """What `manage.py audit_ledger` does, daily: the result in the log."""
    differences = ledger_differences()
    if differences:
        logger.error(
            "Ledger audit failed: %d account(s) out of balance:\n%s",
            len(differences),
            "\n".join(differences),
        )
    else:
        logger.info("Ledger audit clean: every balance equals its ledger sum.")
    return len(differences)
