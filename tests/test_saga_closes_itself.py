"""The saga closes itself, on a whole stack: a payment result lost with the broker's copy
still ends its order FINISHED (through Orders' re-ask), and `reconcile_payments` finds
differences prepared in the real databases, reading Payments only over its internal API."""

import time
import uuid

import httpx
import psycopg
import pytest

from common.testing import broker
from tests.stack import SERVER, Stack, start_stack, stop_stack, wait_for_status


@pytest.fixture(scope="module")
def saga_stack(tmp_path_factory):
    """A stack of its own (databases, queues, name): it re-asks after 1 s, and the tests
    below stop its worker and change its databases."""
    stack = start_stack(tmp_path_factory.mktemp("saga"), ORDERS_REASK_AFTER_SECONDS="1")
    yield stack
    stop_stack(stack)


def client(stack: Stack, user: str) -> httpx.Client:
    return httpx.Client(base_url=stack.gateway_url, headers={"X-User-Id": user}, timeout=10)


def query(stack: Stack, service: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(f"{SERVER}/{stack.databases[service]}", autocommit=True) as db:
        cursor = db.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def manage(stack: Stack, command: str, process: str) -> None:
    done = stack.manage_all(command, process)
    assert done.returncode == 0, done.stdout + done.stderr


def wait_until(predicate, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_an_order_whose_payment_result_was_lost_ends_finished_through_the_reask(saga_stack):
    user = f"saga-{uuid.uuid4()}"
    api = client(saga_stack, user)
    api.post("/accounts")
    api.post("/accounts/deposit", json={"amount": "100"})

    def sent(service: str, message_type: str, order_id: str) -> bool:
        return query(
            saga_stack, service,
            "SELECT 1 FROM messaging_outboxmessage WHERE type = %s AND status = 'sent' "
            "AND payload->>'order_id' = %s", message_type, order_id,
        ) != []  # fmt: skip

    # Orders' worker publishes the order (it relays what the requests commit) while
    # Payments' is stopped; then it stops, so that nobody consumes Payments' result.
    manage(saga_stack, "stop", "payments-worker")
    try:
        order = api.post("/orders", json={"amount": "30", "description": "lost result"}).json()
        wait_until(lambda: sent("orders", "order.created", order["id"]), timeout=30,
                   what="the order's event")  # fmt: skip
        manage(saga_stack, "stop", "orders-worker")
    finally:
        manage(saga_stack, "start", "payments-worker")
    try:
        wait_until(lambda: sent("payments", "payment.result", order["id"]), timeout=30,
                   what="Payments' result")  # fmt: skip
        # The broker loses it (as with its disk): the only copy of the answer is gone.
        broker.purge(saga_stack.env["MESSAGING_QUEUE_PREFIX"] + "payment_status")
    finally:
        manage(saga_stack, "start", "orders-worker")

    final = wait_for_status(api, f"/orders/{order['id']}", timeout=60)

    assert final["status"] == "FINISHED"
    assert api.get("/accounts/balance").json()["balance"] == "70.00"  # charged once
    [(reasks,)] = query(
        saga_stack, "orders", "SELECT reask_count FROM orders_order WHERE id = %s", order["id"]
    )
    assert reasks >= 1
    charges = query(
        saga_stack, "payments",
        "SELECT count(*) FROM payments_ledgerentry WHERE kind = 'charge' AND reference = %s",
        order["id"],
    )  # fmt: skip
    assert charges == [(1,)]
    api.close()


def test_the_reconciliation_is_clean_then_reports_each_prepared_difference(saga_stack):
    api = client(saga_stack, f"saga-{uuid.uuid4()}")
    api.post("/accounts")
    api.post("/accounts/deposit", json={"amount": "100"})
    placed = [
        api.post("/orders", json={"amount": amount, "description": "r"}).json()["id"]
        for amount in ("10", "20", "30", "500")
    ]
    statuses = [wait_for_status(api, f"/orders/{order_id}")["status"] for order_id in placed]
    assert statuses == ["FINISHED", "FINISHED", "FINISHED", "CANCELLED"]
    api.close()

    def reconcile():
        # 0 s in flight: every order is compared at once, none waits out the window.
        return saga_stack.manage("orders", "reconcile_payments", "--in-flight-seconds", "0")

    clean = reconcile()
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "Reconciliation clean" in clean.stdout

    cancelled_but_paid, other_amount, unpaid, refused = placed
    query(
        saga_stack, "orders",
        "UPDATE orders_order SET status = 'CANCELLED', reason = 'insufficient_funds' "
        "WHERE id = %s", cancelled_but_paid,
    )  # fmt: skip
    query(saga_stack, "orders", "UPDATE orders_order SET amount = 21 WHERE id = %s", other_amount)
    query(
        saga_stack, "payments",
        "DELETE FROM payments_ledgerentry WHERE kind = 'charge' AND reference = %s", unpaid,
    )  # fmt: skip
    stray = str(uuid.uuid4())
    query(
        saga_stack, "payments",
        "INSERT INTO payments_ledgerentry (account_id, kind, amount, reference, created_at) "
        "SELECT account_id, 'charge', -5, %s, now() - interval '1 minute' "
        "FROM payments_ledgerentry WHERE reference = %s",
        stray, cancelled_but_paid,
    )  # fmt: skip

    report = reconcile()

    assert report.returncode != 0
    for kind, order_id in [
        ("cancelled-but-charged", cancelled_but_paid),
        ("finished-charge-amount-differs", other_amount),
        ("finished-without-charge", unpaid),
        ("charge-without-order", stray),
    ]:
        assert f"{kind}: order {order_id}" in report.stderr, report.stderr
    assert refused not in report.stderr
    assert "4 difference(s)" in report.stderr


def test_the_internal_endpoint_is_not_public(saga_stack):
    through_the_gateway = httpx.get(f"{saga_stack.gateway_url}/internal/payments", timeout=10)
    direct_without_token = httpx.get(f"{saga_stack.url('payments')}/internal/payments", timeout=10)

    assert through_the_gateway.status_code == 404
    assert direct_without_token.status_code == 403
