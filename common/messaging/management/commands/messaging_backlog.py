import json

from django.core.management.base import BaseCommand

from common.messaging.backlog import backlog


class Command(BaseCommand):
    help = "Print the outbox and inbox backlog: pending, failed, age of the oldest pending row."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args, **options):
        report = backlog()
        if options["json"]:
            self.stdout.write(json.dumps(report))
            return
        self.stdout.write(f"{'table':<8} {'pending':>8} {'failed':>8} {'oldest pending':>16}")
        for table, stats in report.items():
            age = stats["oldest_pending_age_seconds"]
            age_text = "-" if age is None else f"{age:.1f} s"
            self.stdout.write(
                f"{table:<8} {stats['pending']:>8} {stats['failed']:>8} {age_text:>16}"
            )
