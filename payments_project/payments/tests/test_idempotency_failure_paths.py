"""Idempotency-Key where it can go wrong: a first request still running when a retry comes
(409 key busy), a first request that fails while a retry waits for it, and keys past their
time to live, before and after the purge. Real requests on real PostgreSQL connections."""

import re
import threading
import time
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone
from rest_framework.test import APIClient

from common.idempotency.models import IdempotencyRecord
from common.idempotency.services import purge_expired_idempotency_records
from common.testing.fixtures import CallerClient
from payments_project.payments import services
from payments_project.payments.models import Account, LedgerEntry

KEY = {"Idempotency-Key": "deposit-1"}
WAIT = 30  # seconds: a bound on every wait here, never reached when the test passes


class HeldDeposit:
    """Replaces services.account_deposit: the first call (the first request, which has
    claimed its key) stops until released, then deposits, or fails if told to; later calls
    deposit at once."""

    def __init__(self, fail_with: Exception | None = None):
        self.real = services.account_deposit
        self.fail_with = fail_with
        self.calls = 0
        self.claimed = threading.Event()
        self.release = threading.Event()

    def __call__(self, **kwargs):
        self.calls += 1
        if self.calls == 1:
            self.claimed.set()
            assert self.release.wait(WAIT)
            if self.fail_with is not None:
                raise self.fail_with
        return self.real(**kwargs)


@pytest.fixture
def hold_deposit(monkeypatch):
    """Installs a HeldDeposit; at the end releases it and waits for the requests' threads,
    also when the test failed half-way."""
    holds, threads = [], []

    def hold(fail_with: Exception | None = None) -> HeldDeposit:
        held = HeldDeposit(fail_with)
        monkeypatch.setattr(services, "account_deposit", held)
        holds.append(held)
        return held

    hold.threads = threads
    yield hold
    for held in holds:
        held.release.set()
    for thread in threads:
        thread.join(WAIT)


def deposit_in_thread(hold, user_id: str, results: list) -> threading.Thread:
    """POST /accounts/deposit of 25.00 with KEY from a thread of its own (its own connection)."""

    def post():
        try:
            client = CallerClient(APIClient(), user_id)
            results.append(client.post("/accounts/deposit", {"amount": "25.00"}, headers=KEY))
        finally:
            connection.close()

    thread = threading.Thread(target=post)
    hold.threads.append(thread)
    thread.start()
    return thread


def wait_for_a_request_blocked_on_the_key() -> None:
    """Until another connection waits for a lock on its insert of an idempotency record."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' "
                "AND query LIKE 'INSERT INTO \"idempotency_idempotencyrecord\"%%'"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.02)
    pytest.fail("no request waited for the key")


def state_of(user_id: str) -> tuple:
    account = Account.objects.get(user_id=user_id)
    entries = LedgerEntry.objects.filter(account=account).order_by("id")
    ledger = list(entries.values_list("amount", "reference"))
    return str(account.balance), ledger


@pytest.mark.django_db(transaction=True)
def test_a_retry_while_the_first_request_runs_past_the_lock_time_out_is_409_busy(
    user_id, hold_deposit, monkeypatch
):
    caller = CallerClient(APIClient(), user_id)
    caller.post("/accounts")
    held = hold_deposit()
    first = []
    thread = deposit_in_thread(hold_deposit, user_id, first)
    assert held.claimed.wait(WAIT)
    # The retry's connection gives up waiting for the key after 0.3 s instead of 3 s.
    options = connection.settings_dict["OPTIONS"]
    monkeypatch.setitem(
        options, "options", re.sub(r"lock_timeout=\d+", "lock_timeout=300", options["options"])
    )

    retry = caller.post("/accounts/deposit", {"amount": "25.00"}, headers=KEY)

    assert retry.status_code == 409
    assert retry["Content-Type"] == "application/problem+json"
    assert retry.json()["type"] == "urn:problem:idempotency-key-busy"
    held.release.set()
    thread.join(WAIT)
    assert first[0].status_code == 200
    assert first[0].json()["balance"] == "25.00"
    # The retry after the first has finished gets its answer, and deposits nothing more.
    again = caller.post("/accounts/deposit", {"amount": "25.00"}, headers=KEY)
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert state_of(user_id) == ("25.00", [(25, "deposit-1")])


@pytest.mark.django_db(transaction=True)
def test_when_the_first_request_fails_the_waiting_one_performs_the_deposit(user_id, hold_deposit):
    caller = CallerClient(APIClient(), user_id)
    caller.post("/accounts")
    # The database gives up on the first request (a deadlock, say) after it claimed the key.
    held = hold_deposit(fail_with=OperationalError("deadlock detected"))
    first, second = [], []
    first_thread = deposit_in_thread(hold_deposit, user_id, first)
    assert held.claimed.wait(WAIT)
    second_thread = deposit_in_thread(hold_deposit, user_id, second)
    wait_for_a_request_blocked_on_the_key()

    held.release.set()
    first_thread.join(WAIT)
    second_thread.join(WAIT)

    assert first[0].status_code == 503
    assert first[0].json()["type"] == "urn:problem:database-unavailable"
    # The first left nothing, not even its claim: the second ran as the first of its key.
    assert second[0].status_code == 200
    assert "Idempotent-Replayed" not in second[0]
    assert second[0].json()["balance"] == "25.00"
    assert held.calls == 2
    record = IdempotencyRecord.objects.get(user_id=user_id, key="deposit-1")
    assert (record.response_status, record.response_body["balance"]) == (200, "25.00")
    assert state_of(user_id) == ("25.00", [(25, "deposit-1")])


@pytest.mark.django_db
def test_an_expired_key_not_yet_purged_still_replays_and_still_refuses_another_body(
    caller, settings
):
    caller.post("/accounts")
    first = caller.post("/accounts/deposit", {"amount": "5"}, headers=KEY)
    expired = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS, minutes=1)
    IdempotencyRecord.objects.update(created_at=expired)

    retry = caller.post("/accounts/deposit", {"amount": "5.00"}, headers=KEY)
    other = caller.post("/accounts/deposit", {"amount": "6"}, headers=KEY)

    # Kept "at least" the time to live: until the purge, the key means what it meant.
    assert retry.status_code == 200
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert other.status_code == 422
    assert other.json()["type"] == "urn:problem:idempotency-key-reused"
    assert state_of(caller.user_id) == ("5.00", [(5, "deposit-1")])


@pytest.mark.django_db
def test_after_the_purge_the_key_is_free_for_a_new_request(caller, settings):
    caller.post("/accounts")
    caller.post("/accounts/deposit", {"amount": "5"}, headers=KEY)
    expired = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS, minutes=1)
    IdempotencyRecord.objects.update(created_at=expired)
    assert purge_expired_idempotency_records() == 1

    reused = caller.post("/accounts/deposit", {"amount": "6"}, headers=KEY)
    retry = caller.post("/accounts/deposit", {"amount": "6"}, headers=KEY)

    assert reused.status_code == 200
    assert "Idempotent-Replayed" not in reused
    assert reused.json()["balance"] == "11.00"
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == reused.json()
    # Both deposits carry the key as their reference: the ledger says which request each was.
    assert state_of(caller.user_id) == ("11.00", [(5, "deposit-1"), (6, "deposit-1")])
