"""A whole stack with MESSAGING_QUEUE_TYPE=quorum on the local (single-node) RabbitMQ: the
service queues are quorum queues with their parking queues, orders are paid or cancelled as
with classic queues, nothing is parked, and stopping the stack leaves no queue behind."""

import subprocess
import uuid

import httpx

from tests.stack import start_stack, stop_stack, wait_for_status


def queues_of(prefix: str) -> dict[str, tuple[str, str]]:
    """name -> (type, messages) of the broker's queues whose names start with `prefix`."""
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "name", "type", "messages"],  # noqa: S607
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    rows = [line.split("\t") for line in listing.splitlines()]
    return {row[0]: (row[1], row[2]) for row in rows if row[0].startswith(prefix)}


def test_orders_are_paid_and_cancelled_over_quorum_queues(tmp_path_factory):
    stack = start_stack(tmp_path_factory.mktemp("quorum"), MESSAGING_QUEUE_TYPE="quorum")
    prefix = stack.env["MESSAGING_QUEUE_PREFIX"]
    try:
        user = f"quorum-{uuid.uuid4()}"
        with httpx.Client(
            base_url=stack.gateway_url, headers={"X-User-Id": user}, timeout=15
        ) as api:
            assert api.post("/accounts").status_code == 201
            assert api.post("/accounts/deposit", json={"amount": "25.00"}).status_code == 200
            placed = []
            for _ in range(3):
                created = api.post("/orders", json={"amount": "10.00", "description": "q"})
                assert created.status_code == 201, created.text
                placed.append(created.headers["Location"])
            outcomes = sorted(
                (order["status"], order["reason"])
                for order in (wait_for_status(api, url) for url in placed)
            )
            assert outcomes == [("CANCELLED", "insufficient_funds")] + [("FINISHED", None)] * 2
            assert api.get("/accounts/balance").json()["balance"] == "5.00"

        queues = queues_of(prefix)
        for name in ("orders", "payment_status"):
            assert queues[prefix + name][0] == "quorum", queues
            assert queues[f"{prefix}{name}.parking"] == ("quorum", "0"), queues
        # The Celery task queues stay classic (docs/messaging.md, "Quorum queues").
        assert queues[prefix + "orders.tasks"][0] == "classic", queues
    finally:
        stop_stack(stack)
    assert queues_of(prefix) == {}  # the parking queues deleted with the others
