"""What the OpenAPI document promises at the edges of the accounts API (issue 14)."""

import pytest

from payments_project.payments.models import Account

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


@pytest.mark.parametrize("raw", [b"[]", b"0", b"false", b'""', b"null", b'{"x": 1}'])
def test_opening_an_account_takes_no_body_or_an_empty_object_only(caller, raw):
    response = caller.post("/accounts", raw, content_type="application/json", format=None)

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    assert not Account.objects.exists()


@pytest.mark.parametrize("raw", [None, b"{}"])
def test_opening_an_account_with_no_body_or_an_empty_object(caller, raw):
    if raw is None:
        response = caller.post("/accounts")
    else:
        response = caller.post("/accounts", raw, content_type="application/json", format=None)

    assert response.status_code == 201


@pytest.mark.parametrize("amount", ["10.000", "10.500"])
def test_a_deposit_string_with_a_third_decimal_place_is_400(caller, amount):
    caller.post("/accounts")

    response = caller.post("/accounts/deposit", {"amount": amount})

    assert response.status_code == 400
    assert "amount" in response.json()["errors"]
    assert Account.objects.get().balance == 0


def test_a_deposit_as_a_json_number_is_accepted_as_documented(caller):
    caller.post("/accounts")

    response = caller.post("/accounts/deposit", {"amount": 10.5})

    assert response.json()["balance"] == "10.50"


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/accounts/balance"), ("post", "/accounts"), ("post", "/accounts/deposit")],
)
def test_an_unknown_query_parameter_is_400(caller, method, path):
    response = getattr(caller, method)(f"{path}?user=someone-else")

    assert response.status_code == 400
    assert "user" in response.json()["errors"]
    assert not Account.objects.exists()


def test_head_on_the_balance_answers_as_get_without_a_body(caller):
    caller.post("/accounts")

    response = caller.client.head("/accounts/balance", headers={"X-User-Id": caller.user_id})

    assert response.status_code == 200
    assert response.content == b""
