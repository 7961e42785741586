from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from orders_project.orders.payments_client import PaymentsUnavailable, payment_facts
from orders_project.orders.reconciliation import reconcile_payments


class Command(BaseCommand):
    help = (
        "Compare every order with Payments' records (its internal API at PAYMENTS_URL): a "
        "FINISHED order has one charge of its amount, a CANCELLED one none, every charge "
        "has a FINISHED order. Exits non-zero with a report of each difference."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--in-flight-seconds",
            type=float,
            default=settings.ORDERS_STUCK_AFTER_SECONDS,
            help="What changed within this many seconds is in flight, not compared "
            "(default: ORDERS_STUCK_AFTER_SECONDS, %(default)s).",
        )

    def handle(self, *args, in_flight_seconds: float, **options):
        payments = payment_facts(base_url=settings.PAYMENTS_URL, token=settings.INTERNAL_API_TOKEN)
        try:
            report = reconcile_payments(
                payments=payments, in_flight_for=timedelta(seconds=in_flight_seconds)
            )
        except PaymentsUnavailable as exc:
            raise CommandError(f"Reconciliation not done: {exc}") from exc
        for difference in report.differences:
            self.stderr.write(str(difference))
        if not report.clean:
            raise CommandError(f"Reconciliation failed: {report.summary()}.")
        self.stdout.write(f"Reconciliation clean: {report.summary()}.")
