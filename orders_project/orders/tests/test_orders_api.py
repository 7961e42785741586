"""The orders API as the contract defines it."""

import uuid

import pytest
from django.db import connection

from common.messaging.listener import CHANNEL
from common.messaging.models import OutboxMessage
from common.messaging.outbox import PublishAfterCommit
from common.observability.traceparent import parse_traceparent
from common.testing.fixtures import CallerClient
from orders_project.orders.models import Order

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def place(caller, amount="30.00", description="Two coffees", **kwargs):
    return caller.post("/orders", {"amount": amount, "description": description}, **kwargs)


GATEWAY_SPAN = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_placing_an_order_creates_it_new_with_its_event(caller, django_capture_on_commit_callbacks):
    statements = []  # an execute wrapper: a request's start empties Django's query log
    with (
        django_capture_on_commit_callbacks() as callbacks,
        connection.execute_wrapper(
            lambda execute, sql, *args: statements.append(sql) or execute(sql, *args)
        ),
    ):
        response = place(caller, headers={"X-Request-Id": "req-42", "traceparent": GATEWAY_SPAN})

    assert response.status_code == 201
    body = response.json()
    assert response["Location"] == f"/orders/{body['id']}"
    assert response["X-Request-Id"] == "req-42"
    assert body["user_id"] == caller.user_id
    assert (body["amount"], body["description"]) == ("30.00", "Two coffees")
    assert (body["status"], body["reason"]) == ("NEW", None)
    assert body["created_at"] == body["updated_at"]
    event = OutboxMessage.objects.get()
    assert (event.type, event.destination, event.status) == ("order.created", "orders", "pending")
    assert event.payload["order_id"] == body["id"]
    assert event.payload["amount"] == "30.00"
    assert event.payload["user_id"] == caller.user_id
    assert event.headers["request_id"] == "req-42"
    # The event is a span of the request's trace: Payments' handling goes on in it.
    sent = parse_traceparent(event.headers["traceparent"])
    assert sent.trace_id == GATEWAY_SPAN.split("-")[1]
    assert sent.span_id != GATEWAY_SPAN.split("-")[2]
    # Published right after commit by the worker, which the request's NOTIFY wakes: the
    # request itself only commits (MESSAGING PUBLISH_AFTER_COMMIT_BY, docs/messaging.md).
    assert f"NOTIFY {CHANNEL}" in statements
    assert not any(isinstance(callback, PublishAfterCommit) for callback in callbacks)


@pytest.mark.parametrize(
    "body",
    [
        {"amount": "30.00"},
        {"amount": "30.00", "description": ""},
        {"amount": "30.00", "description": "   "},
        {"amount": "30.00", "description": "x" * 501},
        {"amount": "30.00", "description": "nul \u0000 inside"},
        {"amount": "30.00", "description": 42},
        {"amount": "30.00", "description": ["a"]},
        {"amount": "0", "description": "free?"},
        {"amount": "NaN", "description": "x"},
        {"amount": "1.001", "description": "x"},
        {"description": "x"},
        {"amount": "30.00", "description": "x", "status": "FINISHED"},
    ],
    ids=[
        "no-description", "blank", "whitespace", "too-long", "nul", "number",
        "array", "zero", "nan", "three-places", "no-amount", "sets-status",
    ],
)  # fmt: skip
def test_invalid_orders_are_400_and_create_nothing(caller, body):
    response = caller.post("/orders", body)

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    assert response.json()["errors"]
    assert not Order.objects.exists()
    assert not OutboxMessage.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"amount": "30.00", "description": "lone \\ud800 surrogate"}',
        b'{"amount": "30.00", "description": "x", "\\udfff": 1}',
    ],
    ids=["in-a-value", "in-a-key"],
)
def test_a_lone_surrogate_escape_is_400(caller, raw):
    response = caller.post("/orders", raw, content_type="application/json", format=None)

    assert response.status_code == 400
    assert response.json()["type"] == "urn:problem:malformed-request"
    assert not Order.objects.exists()


def test_an_escaped_surrogate_pair_is_an_ordinary_character(caller):
    raw = b'{"amount": "30.00", "description": "coffee \\ud83d\\ude00"}'

    response = caller.post("/orders", raw, content_type="application/json", format=None)

    assert response.status_code == 201
    assert response.json()["description"] == "coffee \U0001f600"


def test_a_description_of_500_characters_is_accepted(caller):
    assert place(caller, description="é" * 500).status_code == 201


def test_placing_an_order_needs_the_user_header(api_client):
    response = api_client.post("/orders", {"amount": "1", "description": "x"}, format="json")

    assert response.status_code == 400
    assert "X-User-Id" in response.json()["errors"]


def test_a_retry_with_the_same_idempotency_key_returns_the_same_order(caller):
    key = {"Idempotency-Key": "order-1"}

    first = place(caller, headers=key)
    retry = place(caller, headers=key)

    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert retry["Location"] == first["Location"]
    assert retry["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1
    assert OutboxMessage.objects.count() == 1


def test_the_same_idempotency_key_with_another_order_is_422(caller):
    place(caller, headers={"Idempotency-Key": "k"})

    response = place(caller, amount="31.00", headers={"Idempotency-Key": "k"})

    assert response.status_code == 422
    assert Order.objects.count() == 1


def test_an_order_is_read_by_its_owner(caller):
    order_id = place(caller).json()["id"]

    response = caller.get(f"/orders/{order_id}")

    assert response.status_code == 200
    assert response.json()["id"] == order_id


@pytest.mark.parametrize("kind", ["another-users", "unknown", "malformed"])
def test_an_order_that_is_not_the_callers_is_404_alike(caller, api_client, kind):
    other_order = place(CallerClient(api_client, "someone-else")).json()["id"]
    order_id = {"another-users": other_order, "unknown": str(uuid.uuid4()), "malformed": "xyz"}

    response = caller.get(f"/orders/{order_id[kind]}")

    assert response.status_code == 404
    assert response.json()["type"] == "urn:problem:order-not-found"


def test_listing_shows_only_the_callers_orders_newest_first(caller, api_client):
    mine = [place(caller, description=f"order {i}").json()["id"] for i in range(3)]
    place(CallerClient(api_client, "someone-else"))

    response = caller.get("/orders")

    assert response.status_code == 200
    assert [order["id"] for order in response.json()] == mine[::-1]
    assert "Link" not in response


def test_listing_pages_with_a_cursor_in_the_link_header(caller):
    ids = [place(caller).json()["id"] for _ in range(5)][::-1]

    seen, url, pages = [], "/orders?limit=2", 0
    while url:
        response = caller.get(url)
        assert response.status_code == 200
        seen += [order["id"] for order in response.json()]
        pages += 1
        link = response.get("Link")
        url = link[link.index("<") + 1 : link.index(">")] if link else None
        assert link is None or link.endswith('rel="next"')

    assert seen == ids
    assert pages == 3


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=201",
        "limit=abc",
        "cursor=garbage",
        "cursor=%F0%9F%92%A9",
        "cursor=fA==",
        # a naive time: "2026-01-01T00:00:00|00000000-0000-0000-0000-000000000000"
        "cursor=MjAyNi0wMS0wMVQwMDowMDowMHwwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA=",
    ],
)
def test_listing_rejects_bad_paging_parameters(caller, query):
    response = caller.get(f"/orders?{query}")

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
