"""Idempotency-Key on POST /accounts/deposit, with Stripe's semantics."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from common.idempotency.models import IdempotencyRecord
from common.idempotency.services import purge_expired_idempotency_records
from common.testing.concurrency import run_concurrently
from common.testing.fixtures import CallerClient
from payments_project.payments.models import Account, LedgerEntry


def balance_of(user_id: str) -> str:
    return str(Account.objects.get(user_id=user_id).balance)


@pytest.mark.django_db
def test_retry_with_same_key_replays_first_response_without_second_deposit(caller):
    caller.post("/accounts")
    key = {"Idempotency-Key": "dep-1"}

    first = caller.post("/accounts/deposit", {"amount": "40.00"}, headers=key)
    retry = caller.post("/accounts/deposit", {"amount": 40}, headers=key)

    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json() == {"user_id": caller.user_id, "balance": "40.00"}
    assert retry["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert balance_of(caller.user_id) == "40.00"
    assert LedgerEntry.objects.get().reference == "dep-1"


@pytest.mark.django_db
def test_replay_returns_the_first_response_even_after_later_deposits(caller):
    caller.post("/accounts")
    first = caller.post("/accounts/deposit", {"amount": "5"}, headers={"Idempotency-Key": "a"})
    caller.post("/accounts/deposit", {"amount": "6"}, headers={"Idempotency-Key": "b"})

    retry = caller.post("/accounts/deposit", {"amount": "5"}, headers={"Idempotency-Key": "a"})

    assert retry.json() == first.json() == {"user_id": caller.user_id, "balance": "5.00"}
    assert balance_of(caller.user_id) == "11.00"


@pytest.mark.django_db
def test_same_key_with_different_body_is_422_and_changes_nothing(caller):
    caller.post("/accounts")
    caller.post("/accounts/deposit", {"amount": "10"}, headers={"Idempotency-Key": "k"})

    response = caller.post("/accounts/deposit", {"amount": "11"}, headers={"Idempotency-Key": "k"})

    assert response.status_code == 422
    assert response.json()["type"] == "urn:problem:idempotency-key-reused"
    assert balance_of(caller.user_id) == "10.00"


@pytest.mark.django_db
def test_keys_are_scoped_per_user(api_client):
    alice, bob = CallerClient(api_client, "alice"), CallerClient(api_client, "bob")
    for who in (alice, bob):
        who.post("/accounts")

    alice.post("/accounts/deposit", {"amount": "1"}, headers={"Idempotency-Key": "same"})
    response = bob.post("/accounts/deposit", {"amount": "2"}, headers={"Idempotency-Key": "same"})

    assert response.status_code == 200
    assert "Idempotent-Replayed" not in response
    assert balance_of("alice") == "1.00"
    assert balance_of("bob") == "2.00"


@pytest.mark.django_db
def test_a_failed_request_is_not_stored_so_its_retry_runs(caller):
    key = {"Idempotency-Key": "before-account"}
    assert caller.post("/accounts/deposit", {"amount": "3"}, headers=key).status_code == 404
    caller.post("/accounts")

    response = caller.post("/accounts/deposit", {"amount": "3"}, headers=key)

    assert response.status_code == 200
    assert balance_of(caller.user_id) == "3.00"


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "ключ"])
def test_malformed_key_is_400(caller, key):
    caller.post("/accounts")

    response = caller.post("/accounts/deposit", {"amount": "1"}, headers={"Idempotency-Key": key})

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]
    assert balance_of(caller.user_id) == "0.00"


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_deposit_once(user_id):
    CallerClient(APIClient(), user_id).post("/accounts")

    def deposit(_):
        client = CallerClient(APIClient(), user_id)
        response = client.post(
            "/accounts/deposit", {"amount": "25.00"}, headers={"Idempotency-Key": "race"}
        )
        return response.status_code, response.json()

    results = run_concurrently(deposit, 10)

    assert {status for status, _ in results} == {200}
    assert {body["balance"] for _, body in results} == {"25.00"}
    assert balance_of(user_id) == "25.00"
    assert LedgerEntry.objects.count() == 1


@pytest.mark.django_db
def test_purge_removes_only_expired_records(caller, settings):
    caller.post("/accounts")
    for key in ("old", "new"):
        caller.post("/accounts/deposit", {"amount": "1"}, headers={"Idempotency-Key": key})
    expired = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS, minutes=1)
    IdempotencyRecord.objects.filter(key="old").update(created_at=expired)

    assert purge_expired_idempotency_records(batch_size=1) == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
