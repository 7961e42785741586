"""Orders' Idempotency-Key under a race: one POST /orders sent at once by many clients to a
live server (a thread per request, each with its own connection to the real PostgreSQL).
One order, one "order created" event, one answer for all."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from common.idempotency.models import IdempotencyRecord
from common.messaging.models import OutboxMessage
from orders_project.orders.models import Order

CLIENTS = 8
WAIT = 30  # seconds: a bound, never reached when the test passes


def post_at_once(url: str, headers: dict, bodies: list[dict]) -> list[requests.Response]:
    """POST each body from a thread of its own, released together."""
    barrier = threading.Barrier(len(bodies))

    def post(body: dict) -> requests.Response:
        barrier.wait(WAIT)
        return requests.post(f"{url}/orders", json=body, headers=headers, timeout=WAIT)

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(post, bodies))


@pytest.mark.django_db(transaction=True)
def test_concurrent_orders_with_one_key_place_one_order_and_answer_it_to_all(live_server, user_id):
    headers = {"X-User-Id": user_id, "Idempotency-Key": "race"}
    body = {"amount": "30.00", "description": "Two coffees"}

    responses = post_at_once(live_server.url, headers, [body] * CLIENTS)

    assert [response.status_code for response in responses] == [201] * CLIENTS
    order = Order.objects.get(user_id=user_id)
    assert {response.json()["id"] for response in responses} == {str(order.id)}
    assert {response.headers["Location"] for response in responses} == {f"/orders/{order.id}"}
    replayed = [response.headers.get("Idempotent-Replayed") for response in responses]
    assert sorted(replayed, key=str) == [None] + ["true"] * (CLIENTS - 1)
    assert OutboxMessage.objects.filter(payload__order_id=str(order.id)).count() == 1
    assert IdempotencyRecord.objects.filter(user_id=user_id).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_different_orders_with_one_key_place_one_and_refuse_the_others(
    live_server, user_id
):
    headers = {"X-User-Id": user_id, "Idempotency-Key": "race"}
    bodies = [{"amount": f"{30 + index % 2}.00", "description": "Coffee"} for index in range(8)]

    responses = post_at_once(live_server.url, headers, bodies)

    order = Order.objects.get(user_id=user_id)
    for body, response in zip(bodies, responses, strict=True):
        if body["amount"] == str(order.amount):  # a retry of the order placed: its answer
            assert response.status_code == 201
            assert response.json()["id"] == str(order.id)
        else:  # another order under the same key: refused, and nothing placed
            assert response.status_code == 422
            assert response.headers["Content-Type"] == "application/problem+json"
            assert response.json()["type"] == "urn:problem:idempotency-key-reused"
    assert OutboxMessage.objects.filter(payload__order_id=str(order.id)).count() == 1
