"""Orders' periodic tasks (scheduled in settings.CELERY_BEAT_SCHEDULE): thin, with stable
names; the work is in services and reconciliation."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from orders_project.orders import services
from orders_project.orders.payments_client import PaymentsUnavailable, payment_facts
from orders_project.orders.reconciliation import reconcile_payments as reconcile

logger = logging.getLogger(__name__)


# quiet_when_idle: a sweep that finds nothing logs at DEBUG (common/logging.py).
@shared_task(name="orders.reask_stale_orders", ignore_result=True, quiet_when_idle=True)
def reask_stale_orders() -> int:
    return services.orders_reask_stale(
        older_than=timedelta(seconds=settings.ORDERS_REASK_AFTER_SECONDS),
        max_interval=timedelta(seconds=settings.ORDERS_STUCK_AFTER_SECONDS),
    )


@shared_task(name="orders.report_stuck_orders", ignore_result=True, quiet_when_idle=True)
def report_stuck_orders() -> int:
    return services.orders_report_stuck(
        older_than=timedelta(seconds=settings.ORDERS_STUCK_AFTER_SECONDS)
    )


@shared_task(name="orders.reconcile_payments", ignore_result=True)
def reconcile_payments() -> int:
    """What `manage.py reconcile_payments` does, daily: the result in the log."""
    try:
        report = reconcile(
            payments=payment_facts(
                base_url=settings.PAYMENTS_URL, token=settings.INTERNAL_API_TOKEN
            ),
            in_flight_for=timedelta(seconds=settings.ORDERS_STUCK_AFTER_SECONDS),
        )
    except PaymentsUnavailable as exc:
        logger.error("Reconciliation with Payments not done: %s", exc)
        raise
    if report.clean:
        logger.info("Reconciliation with Payments clean: %s", report.summary())
    else:
        logger.error(
            "Reconciliation with Payments failed: %s:\n%s",
            report.summary(),
            "\n".join(str(difference) for difference in report.differences),
        )
    return len(report.differences)
