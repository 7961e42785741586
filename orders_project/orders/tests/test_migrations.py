"""Orders' migrations describe its models (its own and the shared apps it runs): a model
change without its migration fails here, as it does for Payments
(payments_project/payments/tests/test_service_endpoints.py)."""

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_migrations_match_the_models():
    # --check exits non-zero (SystemExit) when a migration is missing; --dry-run writes none.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
