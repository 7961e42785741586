"""The asynchronous payment flow across real processes, through the gateway: the services
under gunicorn, their Celery workers (with the consumer bootstep) and beats, PostgreSQL and
RabbitMQ."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.stack import wait_for_status


def client_for(stack, user_id: str) -> httpx.Client:
    return httpx.Client(base_url=stack.gateway_url, headers={"X-User-Id": user_id}, timeout=10)


def place_order(orders: httpx.Client, amount: str) -> httpx.Response:
    return orders.post("/orders", json={"amount": amount, "description": "e2e"})


def test_orders_are_paid_or_cancelled_with_the_reason(stack):
    user = f"e2e-{uuid.uuid4()}"
    payments = orders = client_for(stack, user)
    assert payments.post("/accounts").status_code == 201
    assert payments.post("/accounts/deposit", json={"amount": 100}).json()["balance"] == "100.00"

    paid = place_order(orders, "30")
    assert paid.status_code == 201
    assert wait_for_status(orders, paid.headers["Location"])["status"] == "FINISHED"
    assert payments.get("/accounts/balance").json()["balance"] == "70.00"

    too_big = place_order(orders, "100")
    cancelled = wait_for_status(orders, too_big.headers["Location"])
    assert (cancelled["status"], cancelled["reason"]) == ("CANCELLED", "insufficient_funds")
    assert payments.get("/accounts/balance").json()["balance"] == "70.00"

    with client_for(stack, f"no-account-{uuid.uuid4()}") as stranger:
        orphan = wait_for_status(stranger, place_order(stranger, "1").headers["Location"])
    assert (orphan["status"], orphan["reason"]) == ("CANCELLED", "account_not_found")

    listed = orders.get("/orders").json()
    assert [o["id"] for o in listed] == [too_big.json()["id"], paid.json()["id"]]
    orders.close()


def test_twenty_concurrent_orders_of_ten_against_170_finish_exactly_seventeen(stack):
    user = f"e2e-race-{uuid.uuid4()}"
    payments = orders = client_for(stack, user)
    payments.post("/accounts")
    payments.post("/accounts/deposit", json={"amount": "170.00"})

    def place(_):
        with client_for(stack, user) as orders:
            return place_order(orders, "10.00")

    with ThreadPoolExecutor(max_workers=20) as pool:
        created = list(pool.map(place, range(20)))
    assert [r.status_code for r in created] == [201] * 20

    final = [wait_for_status(orders, r.headers["Location"]) for r in created]
    statuses = sorted((o["status"], o["reason"]) for o in final)
    assert statuses == [("CANCELLED", "insufficient_funds")] * 3 + [("FINISHED", None)] * 17
    assert payments.get("/accounts/balance").json()["balance"] == "0.00"
    orders.close()
    audit = stack.manage("payments", "audit_ledger")
    assert audit.returncode == 0, audit.stderr
    assert "clean" in audit.stdout
