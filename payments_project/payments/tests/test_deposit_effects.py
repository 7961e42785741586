"""Deposits judged by their effects, not by their status codes: what the balance and the
ledger hold after a deposit, and that a refused deposit (every 4xx) leaves both as they were."""

from decimal import Decimal

import pytest

from common.idempotency.models import IdempotencyRecord
from payments_project.payments.models import MAX_BALANCE, Account, LedgerEntry


def post_raw(caller, body: str, content_type: str = "application/json", headers=None):
    return caller.client.post(
        "/accounts/deposit",
        body,
        content_type=content_type,
        headers={"X-User-Id": caller.user_id, **(headers or {})},
    )


def state_of(user_id: str) -> tuple:
    """The account's balance, its ledger and the caller's idempotency records."""
    account = Account.objects.get(user_id=user_id)
    ledger = list(
        LedgerEntry.objects.filter(account=account)
        .order_by("id")
        .values_list("kind", "amount", "reference")
    )
    records = list(
        IdempotencyRecord.objects.filter(user_id=user_id)
        .order_by("id")
        .values_list("key", "request_fingerprint", "response_status", "response_body")
    )
    return account.balance, ledger, records


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("first", "second"),
    [('{"amount": 0.01}', '{"amount": 12.3}'), ('{"amount": "0.01"}', '{"amount": "12.3"}')],
    ids=["numbers", "strings"],
)
def test_deposits_of_a_cent_and_of_12_3_read_back_exactly(caller, first, second):
    caller.post("/accounts")

    after_first = post_raw(caller, first, headers={"Idempotency-Key": "a"})
    after_second = post_raw(caller, second, headers={"Idempotency-Key": "b"})

    assert after_first.json()["balance"] == "0.01"
    assert after_second.json()["balance"] == "12.31"
    assert caller.get("/accounts/balance").json()["balance"] == "12.31"
    balance, ledger, _ = state_of(caller.user_id)
    assert balance == Decimal("12.31")
    assert ledger == [("deposit", Decimal("0.01"), "a"), ("deposit", Decimal("12.30"), "b")]
    assert sum(amount for _, amount, _ in ledger) == balance


# Every way to get a deposit refused, each sent to an account holding 10.00 whose key "used"
# already deposited those 10.00: (expected status, body, extra headers, content type).
REFUSED = {
    "zero": (400, '{"amount": 0}', {}, None),
    "negative": (400, '{"amount": -1}', {}, None),
    "negative string": (400, '{"amount": "-1"}', {}, None),
    "third decimal place": (400, '{"amount": 1.001}', {}, None),
    "third decimal place, a zero": (400, '{"amount": "1.000"}', {}, None),
    "over the largest amount": (400, '{"amount": 1000000000.01}', {}, None),
    "exponent string": (400, '{"amount": "1e3"}', {}, None),
    "huge exponent": (400, '{"amount": 1e999999999}', {}, None),
    "NaN": (400, '{"amount": NaN}', {}, None),
    "boolean": (400, '{"amount": true}', {}, None),
    "null": (400, '{"amount": null}', {}, None),
    "text": (400, '{"amount": "ten"}', {}, None),
    "missing": (400, "{}", {}, None),
    "unknown field": (400, '{"amount": "1", "balance": "1000"}', {}, None),
    "array": (400, "[]", {}, None),
    "malformed JSON": (400, '{"amount": ', {}, None),
    "lone surrogate": (400, '{"amount": "1", "note": "\\ud800"}', {}, None),
    "malformed key": (400, '{"amount": "1"}', {"Idempotency-Key": "has space"}, None),
    "malformed user": (400, '{"amount": "1"}', {"X-User-Id": "not an id!"}, None),
    "form body": (415, "amount=1", {}, "application/x-www-form-urlencoded"),
    "too large": (413, '{"amount": "1", "pad": "' + "x" * 70_000 + '"}', {}, None),
    "key reused with another amount": (422, '{"amount": "11"}', {"Idempotency-Key": "used"}, None),
}


@pytest.fixture
def funded(caller):
    caller.post("/accounts")
    response = caller.post(
        "/accounts/deposit", {"amount": "10"}, headers={"Idempotency-Key": "used"}
    )
    assert response.status_code == 200
    return caller


@pytest.mark.django_db
@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_a_refused_deposit_changes_neither_balance_nor_ledger(funded, case):
    status, body, headers, content_type = REFUSED[case]
    before = state_of(funded.user_id)

    response = post_raw(funded, body, content_type or "application/json", headers)

    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert state_of(funded.user_id) == before


@pytest.mark.django_db
def test_a_deposit_over_the_largest_balance_is_422_and_changes_nothing(funded):
    # The balance one cent under the largest, with the ledger to match.
    top_up = MAX_BALANCE - Decimal("10.00") - Decimal("0.01")
    account = Account.objects.get(user_id=funded.user_id)
    LedgerEntry.objects.create(
        account=account, kind=LedgerEntry.Kind.DEPOSIT, amount=top_up, reference="top-up"
    )
    Account.objects.filter(pk=account.pk).update(balance=MAX_BALANCE - Decimal("0.01"))
    before = state_of(funded.user_id)

    response = post_raw(funded, '{"amount": "0.02"}', headers={"Idempotency-Key": "over"})

    assert response.status_code == 422
    assert response.json()["type"] == "urn:problem:balance-limit-exceeded"
    assert state_of(funded.user_id) == before
    # The cent that fits still goes in: the limit is exact.
    assert post_raw(funded, '{"amount": "0.01"}').json()["balance"] == str(MAX_BALANCE)


@pytest.mark.django_db
def test_a_deposit_without_an_account_is_404_and_creates_nothing(caller):
    response = post_raw(caller, '{"amount": "5"}', headers={"Idempotency-Key": "k"})

    assert response.status_code == 404
    assert not Account.objects.filter(user_id=caller.user_id).exists()
    assert not LedgerEntry.objects.exists()
    assert not IdempotencyRecord.objects.filter(user_id=caller.user_id).exists()
