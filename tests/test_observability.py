"""Observability across real processes (docs/observability.md): every process's /metrics, the
counters an order moves, one request id in every log line of its path, one trace across the
message hops."""

import uuid
from pathlib import Path

import httpx
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from tests.stack import SERVER, wait_for_status

METRICS_PROCESSES = ("gateway", "orders", "payments", "orders-worker", "payments-worker")


def scrape(stack, process: str) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value, parsed by prometheus-client's own parser."""
    response = httpx.get(f"{stack.url(process)}/metrics", timeout=10)
    assert response.status_code == 200, (process, response.text[:300])
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_every_process_that_works_serves_metrics_that_parse(stack):
    for process in METRICS_PROCESSES:
        samples = scrape(stack, process)
        assert samples, process
    orders = scrape(stack, "orders")
    # The scrape-time gauges of the service's database are there, and it was readable.
    assert value(orders, "shop_database_up") == 1.0
    for gauge in ("shop_outbox_pending", "shop_inbox_failed", "shop_orders_new_oldest_seconds"):
        assert (gauge, ()) in orders, gauge


def test_placing_and_paying_orders_moves_the_counters_of_every_process(stack):
    before = {process: scrape(stack, process) for process in METRICS_PROCESSES}
    user = f"obs-{uuid.uuid4()}"
    with httpx.Client(base_url=stack.gateway_url, headers={"X-User-Id": user}, timeout=10) as api:
        api.post("/accounts")
        api.post("/accounts/deposit", json={"amount": "50.00"})
        # Six orders: the orders service's two gunicorn workers share them, and the scrape
        # must add both workers' counts up.
        placed = [
            api.post("/orders", json={"amount": "10", "description": "obs"}) for _ in range(6)
        ]
        assert [response.status_code for response in placed] == [201] * 6
        final = [wait_for_status(api, response.headers["Location"]) for response in placed]
    assert sorted(order["status"] for order in final) == ["CANCELLED"] + ["FINISHED"] * 5
    after = {process: scrape(stack, process) for process in METRICS_PROCESSES}

    def moved(process: str, name: str, **labels: str) -> float:
        return value(after[process], name, **labels) - value(before[process], name, **labels)

    assert moved("orders", "shop_orders_created_total") == 6
    assert moved("payments", "shop_deposits_total") == 1
    assert moved("payments-worker", "shop_payments_total", outcome="succeeded", reason="") == 5
    assert (
        moved(
            "payments-worker", "shop_payments_total", outcome="failed", reason="insufficient_funds"
        )
        == 1
    )
    assert moved("orders-worker", "shop_orders_completed_total", status="FINISHED", reason="") == 5
    assert (
        moved("payments-worker", "shop_messages_consumed_total", queue=queue(stack, "orders")) >= 6
    )
    published = moved("orders", "shop_messages_published_total", type="order.created")
    published += moved("orders-worker", "shop_messages_published_total", type="order.created")
    assert published >= 6
    assert (
        moved("gateway", "shop_http_requests_total", route="orders", method="POST", status="201")
        == 6
    )
    assert (
        moved("gateway", "shop_gateway_upstream_requests_total", upstream="orders", status="201")
        == 6
    )
    handled = moved("payments-worker", "shop_message_handler_seconds_count", type="order.created")
    assert handled >= 6


def queue(stack, name: str) -> str:
    return stack.env["MESSAGING_QUEUE_PREFIX"] + name


def test_one_request_id_and_one_trace_follow_an_order_through_every_process(stack):
    request_id = f"obs-{uuid.uuid4().hex[:12]}"
    trace_id = uuid.uuid4().hex
    user = f"obs-{uuid.uuid4()}"
    with httpx.Client(base_url=stack.gateway_url, headers={"X-User-Id": user}, timeout=10) as api:
        api.post("/accounts")
        api.post("/accounts/deposit", json={"amount": "20.00"})
        response = api.post(
            "/orders",
            json={"amount": "10", "description": "traced"},
            headers={"X-Request-Id": request_id, "traceparent": f"00-{trace_id}-{'1' * 16}-01"},
        )
        assert response.headers["X-Request-Id"] == request_id
        order = wait_for_status(api, response.headers["Location"])
    assert order["status"] == "FINISHED"

    # grep <id> var/log/*.log shows the order's whole path.
    logs = Path(stack.env["VAR_DIR"]) / "log"
    lines = {
        log.stem: [line for line in log.read_text().splitlines() if request_id in line]
        for log in logs.glob("*.log")
    }
    assert any("POST /orders 201" in line for line in lines["gateway"])
    assert any("POST /orders 201" in line for line in lines["orders"])
    assert any(f"Order {order['id']} paid" in line for line in lines["payments-worker"])
    assert any(f"Order {order['id']} FINISHED" in line for line in lines["orders-worker"])

    # The trace survives both message hops: the order's message and its result carry it.
    assert trace_of_message(stack, "payments", order["id"], "order.created") == trace_id
    assert trace_of_message(stack, "orders", order["id"], "payment.result") == trace_id


def trace_of_message(stack, service: str, order_id: str, message_type: str) -> str:
    """The trace id in the traceparent of the message the service received for the order."""
    with psycopg.connect(f"{SERVER}/{stack.databases[service]}", connect_timeout=10) as db:
        [traceparent] = db.execute(
            "SELECT headers->>'traceparent' FROM messaging_inboxmessage"
            " WHERE type = %s AND payload->>'order_id' = %s",
            [message_type, order_id],
        ).fetchone()
    return traceparent.split("-")[1]
