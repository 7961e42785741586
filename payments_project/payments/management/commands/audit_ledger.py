from django.core.management.base import BaseCommand, CommandError

from payments_project.payments.selectors import accounts_out_of_balance


class Command(BaseCommand):
    help = (
        "Check that every account's balance equals the sum of its ledger entries. "
        "Exits non-zero with a report of each account that differs."
    )

    def handle(self, *args, **options):
        broken = list(accounts_out_of_balance())
        if not broken:
            self.stdout.write("Ledger audit clean: every balance equals its ledger sum.")
            return
        for account in broken:
            self.stderr.write(
                f"user {account.user_id}: balance {account.balance} != "
                f"ledger sum {account.ledger_sum} "
                f"(difference {account.balance - account.ledger_sum})"
            )
        raise CommandError(f"Ledger audit failed: {len(broken)} account(s) out of balance.")
