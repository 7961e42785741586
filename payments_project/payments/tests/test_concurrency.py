"""Races against the real PostgreSQL: real threads, each with its own connection."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from common.testing.concurrency import run_concurrently
from common.testing.fixtures import CallerClient
from payments_project.payments.models import Account, LedgerEntry
from payments_project.payments.selectors import accounts_out_of_balance

pytestmark = pytest.mark.django_db(transaction=True)


def test_fifty_concurrent_deposits_lose_nothing(user_id):
    CallerClient(APIClient(), user_id).post("/accounts")

    def deposit(index: int) -> int:
        client = CallerClient(APIClient(), user_id)
        return client.post("/accounts/deposit", {"amount": f"{index + 1}.01"}).status_code

    statuses = run_concurrently(deposit, 50)

    assert statuses == [200] * 50
    expected = sum(Decimal(f"{i + 1}.01") for i in range(50))  # 1275 + 0.50
    assert Account.objects.get(user_id=user_id).balance == expected
    assert LedgerEntry.objects.count() == 50
    assert not accounts_out_of_balance().exists()


def test_concurrent_account_creation_makes_exactly_one(user_id):
    def create(_):
        return CallerClient(APIClient(), user_id).post("/accounts").status_code

    statuses = run_concurrently(create, 20)

    assert sorted(statuses) == [201] + [409] * 19
    assert Account.objects.filter(user_id=user_id).count() == 1
