"""What the OpenAPI document promises at the edges of the orders API (issue 14): query
parameters read strictly, HEAD beside GET, bodies checked as their schema says."""

import base64
import uuid

import pytest

from orders_project.orders.models import Order

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def place(caller, **body):
    return caller.post("/orders", {"amount": "30.00", "description": "Two coffees", **body})


def assert_400_naming(response, name: str) -> None:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    assert response.json()["type"] == "urn:problem:validation-error"
    assert name in response.json()["errors"]


@pytest.mark.parametrize(
    "query",
    [
        "limit=0.0&limit=false&limit=",
        "limit=1&limit=2",
        "limit=2&limit=2",
        "cursor=a&cursor=b",
    ],
)
def test_a_query_parameter_given_twice_is_400(caller, query):
    place(caller)

    assert_400_naming(caller.get(f"/orders?{query}"), query.split("=")[0])


@pytest.mark.parametrize("value", ["", "2.0", "+2", " 2", "2 ", "\u0662", "1e1", "false"])
def test_limit_is_ascii_digits_and_never_blank(caller, value):
    assert_400_naming(caller.get("/orders", data={"limit": value}), "limit")


def test_a_blank_cursor_is_400_not_the_first_page(caller):
    assert_400_naming(caller.get("/orders?cursor="), "cursor")


@pytest.mark.parametrize("time", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_cursor_with_a_time_the_database_cannot_hold_is_400(caller, time):
    cursor = base64.urlsafe_b64encode(f"{time}|{uuid.UUID(int=0)}".encode()).decode()

    assert_400_naming(caller.get("/orders", data={"cursor": cursor}), "cursor")


@pytest.mark.parametrize(
    ("method", "path", "name"),
    [
        ("get", "/orders?status=NEW", "status"),
        ("get", "/orders?limit=5&sort=asc", "sort"),
        ("post", "/orders?dry_run=1", "dry_run"),
        ("get", "/orders/{id}?expand=payment", "expand"),
    ],
)
def test_an_unknown_query_parameter_is_400_not_ignored(caller, method, path, name):
    order_id = place(caller).json()["id"]
    path = path.format(id=order_id)

    if method == "post":
        response = caller.post(path, {"amount": "1.00", "description": "x"})
    else:
        response = caller.get(path)

    assert_400_naming(response, name)
    assert Order.objects.count() == 1


def test_known_parameters_given_once_still_page(caller):
    for _ in range(3):
        place(caller)

    response = caller.get("/orders?limit=2")

    assert response.status_code == 200
    assert len(response.json()) == 2
    assert 'rel="next"' in response["Link"]


@pytest.mark.parametrize("path", ["/orders", "/orders/{id}", "/orders?limit=1"])
def test_head_answers_as_get_without_a_body(caller, path):
    order_id = place(caller).json()["id"]
    path = path.format(id=order_id)

    response = caller.client.head(path, headers={"X-User-Id": caller.user_id})

    assert response.status_code == 200
    assert response.content == b""
    assert response["Content-Type"] == "application/json"


def test_head_checks_its_parameters_as_get_does(caller):
    response = caller.client.head("/orders?limit=0", headers={"X-User-Id": caller.user_id})

    assert response.status_code == 400


@pytest.mark.parametrize("amount", ["30.000", "30.500", "0.001"])
def test_an_amount_string_with_a_third_decimal_place_is_400(caller, amount):
    assert_400_naming(place(caller, amount=amount), "amount")
    assert not Order.objects.exists()


def test_a_description_is_bounded_as_sent_not_after_trimming(caller):
    response = place(caller, description=" " + "x" * 500)

    assert_400_naming(response, "description")
    assert place(caller, description=" " + "x" * 499).status_code == 201


@pytest.mark.parametrize("accept", ["text/html", "application/xml"])
def test_an_accept_header_the_api_cannot_satisfy_is_a_406_problem(caller, accept):
    response = caller.get("/orders", headers={"Accept": accept})

    assert response.status_code == 406
    assert response["Content-Type"] == PROBLEM
    assert response.json()["type"] == "urn:problem:not-acceptable"


def test_a_body_that_is_not_json_is_a_415_problem(caller):
    response = caller.client.post(
        "/orders", "amount=1", content_type="text/plain", headers={"X-User-Id": caller.user_id}
    )

    assert response.status_code == 415
    assert response["Content-Type"] == PROBLEM
    assert response.json()["type"] == "urn:problem:unsupported-media-type"
