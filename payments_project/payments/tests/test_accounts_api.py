"""The accounts API as the contract defines it: happy paths and each error path."""

import pytest

from payments_project.payments.models import Account, LedgerEntry

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["type"] == f"urn:problem:{code}"
    assert body["title"]
    assert body["detail"]
    return body


def test_create_account_starts_at_zero(caller):
    response = caller.post("/accounts")

    assert response.status_code == 201
    body = response.json()
    assert body["user_id"] == caller.user_id
    assert body["balance"] == "0.00"
    assert {"created_at", "updated_at"} <= body.keys()
    assert Account.objects.get(user_id=caller.user_id).balance == 0


def test_create_account_twice_is_a_conflict(caller):
    caller.post("/accounts")

    response = caller.post("/accounts")

    assert_problem(response, 409, "account-exists")
    assert Account.objects.filter(user_id=caller.user_id).count() == 1


def test_create_account_refuses_a_balance_in_the_body(caller):
    response = caller.post("/accounts", {"balance": "1000.00"})

    body = assert_problem(response, 400, "validation-error")
    assert "balance" in body["errors"]
    assert not Account.objects.exists()


@pytest.mark.parametrize("user_id", ["1", "42", "8d3f1c2e-7a4b-4e59-9c1d-2f6e8a9b0c11", "a.b_c-d"])
def test_user_ids_of_the_contract_are_accepted(api_client, user_id):
    response = api_client.post("/accounts", headers={"X-User-Id": user_id})

    assert response.status_code == 201
    assert response.json()["user_id"] == user_id


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-User-Id": ""},
        {"X-User-Id": "x" * 65},
        {"X-User-Id": "has space"},
        {"X-User-Id": "slash/id"},
        {"X-User-Id": "ünïcode"},
    ],
    ids=["missing", "empty", "too-long", "space", "slash", "non-ascii"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/accounts"), ("post", "/accounts/deposit"), ("get", "/accounts/balance")],
)
def test_missing_or_malformed_user_header_is_400(api_client, headers, method, path):
    response = getattr(api_client, method)(path, headers=headers)

    body = assert_problem(response, 400, "validation-error")
    assert "X-User-Id" in body["errors"]
    assert not Account.objects.exists()


def test_deposit_adds_to_balance_and_ledger(caller):
    caller.post("/accounts")

    first = caller.post("/accounts/deposit", {"amount": "100.00"})
    second = caller.post("/accounts/deposit", {"amount": 20.5})

    assert first.status_code == 200
    assert first.json() == {"user_id": caller.user_id, "balance": "100.00"}
    assert second.json() == {"user_id": caller.user_id, "balance": "120.50"}
    entries = LedgerEntry.objects.filter(account__user_id=caller.user_id)
    assert sorted(str(e.amount) for e in entries) == ["100.00", "20.50"]
    assert {e.kind for e in entries} == {"deposit"}


@pytest.mark.parametrize("amount", [1, "1", "0.01", 0.01, "1000000000", "1000000000.00", 12.3])
def test_deposit_accepts_valid_amounts(caller, amount):
    caller.post("/accounts")

    response = caller.post("/accounts/deposit", {"amount": amount})

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "amount",
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "1e999",
        "1e2",
        "",
        " 10",
        "10 ",
        "+10",
        "-5",
        "abc",
        "10,5",
        True,
        False,
        None,
        {},
        {"value": 10},
        [],
        [10],
        0,
        "0",
        "0.00",
        -1,
        "0.001",
        0.001,
        "10.005",
        "1000000000.01",
        10**12,
    ],
)
def test_deposit_rejects_bad_amounts_and_changes_nothing(caller, amount):
    caller.post("/accounts")

    response = caller.post("/accounts/deposit", {"amount": amount})

    body = assert_problem(response, 400, "validation-error")
    assert "amount" in body["errors"]
    assert Account.objects.get(user_id=caller.user_id).balance == 0
    assert not LedgerEntry.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b'{"amount": NaN}',
        b'{"amount": Infinity}',
        b"\xff\xfe",
        b'{"amount": 1e99999999999999999999}',
        b'{"amount": 1, "x": [1e-99999999999999999999]}',
        b'{"amount": "1", "\\ud800": 0}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=[
        "truncated", "nan-literal", "infinity-literal", "not-utf8", "decimal-overflow",
        "decimal-underflow", "lone-surrogate", "deep-nesting",
    ],
)  # fmt: skip
def test_malformed_json_is_400(caller, raw, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000_000
    caller.post("/accounts")

    response = caller.post("/accounts/deposit", raw, content_type="application/json", format=None)

    assert_problem(response, 400, "malformed-request")
    assert Account.objects.get(user_id=caller.user_id).balance == 0


def test_body_that_is_not_an_object_is_400(caller):
    caller.post("/accounts")

    response = caller.post("/accounts/deposit", [1, 2])

    assert_problem(response, 400, "validation-error")


def test_deposit_missing_amount_is_400(caller):
    caller.post("/accounts")

    body = assert_problem(caller.post("/accounts/deposit", {}), 400, "validation-error")

    assert body["errors"]["amount"]


def test_deposit_refuses_extra_fields(caller):
    caller.post("/accounts")

    response = caller.post("/accounts/deposit", {"amount": "1.00", "balance": "1000000"})

    assert_problem(response, 400, "validation-error")
    assert Account.objects.get(user_id=caller.user_id).balance == 0


@pytest.mark.django_db(transaction=True)  # a real rollback: the service has no savepoint
def test_deposit_without_account_is_404(caller):
    response = caller.post("/accounts/deposit", {"amount": "10"})

    assert_problem(response, 404, "account-not-found")
    assert not LedgerEntry.objects.exists()


def test_deposit_beyond_the_balance_limit_is_422(caller):
    caller.post("/accounts")
    Account.objects.filter(user_id=caller.user_id).update(balance="9999999999999999.00")

    response = caller.post("/accounts/deposit", {"amount": "1.00"})

    assert_problem(response, 422, "balance-limit-exceeded")


def test_deposit_with_non_json_content_type_is_415(caller):
    caller.post("/accounts")

    response = caller.post("/accounts/deposit", "amount=10", content_type="text/plain", format=None)

    assert_problem(response, 415, "unsupported-media-type")


def test_deposit_body_over_the_size_limit_is_413(caller, settings):
    caller.post("/accounts")
    padding = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)

    response = caller.post("/accounts/deposit", {"amount": "1", "pad": padding})

    assert_problem(response, 413, "payload-too-large")
    assert Account.objects.get(user_id=caller.user_id).balance == 0


def test_balance_of_the_caller(caller):
    caller.post("/accounts")
    caller.post("/accounts/deposit", {"amount": "7.25"})

    response = caller.get("/accounts/balance")

    assert response.status_code == 200
    assert response.json() == {"user_id": caller.user_id, "balance": "7.25"}


def test_balance_without_account_is_404(caller):
    assert_problem(caller.get("/accounts/balance"), 404, "account-not-found")


def test_wrong_method_is_405_problem(caller):
    response = caller.get("/accounts/deposit")

    assert_problem(response, 405, "method-not-allowed")
    assert "POST" in response["Allow"]


@pytest.mark.parametrize("path", ["/nope", "/accounts/", "/accounts/deposit/x", "/%2e%2e/admin"])
def test_unknown_path_is_json_404(caller, path):
    assert_problem(caller.get(path), 404, "not-found")


def test_disallowed_host_is_json_400(api_client):
    response = api_client.get("/accounts/balance", HTTP_HOST="evil.example")

    assert_problem(response, 400, "bad-request")
