from django.core.management.base import BaseCommand, CommandError

from payments_project.payments.audit import ledger_audit


class Command(BaseCommand):
    help = (
        "Check that every account's balance equals the sum of its ledger entries. "
        "Exits non-zero with a report of each account that differs."
    )

    def handle(self, *args, **options):
        audit = ledger_audit()
        if audit.ok:
            self.stdout.write("Ledger audit clean: every balance equals its ledger sum.")
            return
        self.stderr.write(audit.report)
        raise CommandError(
            f"Ledger audit failed: {audit.accounts_out_of_balance} account(s) out of balance."
        )
