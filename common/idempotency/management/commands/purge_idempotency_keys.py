from django.conf import settings
from django.core.management.base import BaseCommand

from common.idempotency.services import purge_expired_idempotency_records


class Command(BaseCommand):
    help = "Delete Idempotency-Key records older than IDEMPOTENCY_KEY_TTL_HOURS."

    def handle(self, *args, **options):
        deleted = purge_expired_idempotency_records()
        self.stdout.write(
            f"Deleted {deleted} idempotency records older than "
            f"{settings.IDEMPOTENCY_KEY_TTL_HOURS} hours."
        )
