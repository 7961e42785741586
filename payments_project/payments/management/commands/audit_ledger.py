from django.core.management.base import BaseCommand, CommandError

from payments_project.payments.audit import ledger_differences


class Command(BaseCommand):
    help = (
        "Check that every account's balance equals the sum of its ledger entries. "
        "Exits non-zero with a report of each account that differs."
    )

    def handle(self, *args, **options):
        differences = ledger_differences()
        if not differences:
            self.stdout.write("Ledger audit clean: every balance equals its ledger sum.")
            return
        for line in differences:
            self.stderr.write(line)
        raise CommandError(f"Ledger audit failed: {len(differences)} account(s) out of balance.")
