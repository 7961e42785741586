"""The embedded fallback: with EMBEDDED=1 (as when PostgreSQL and RabbitMQ cannot be
reached), `up` runs the whole system on SQLite and a file-based broker, and says so."""

import uuid

import httpx
import pytest

from tests.stack import start_stack, stop_stack, wait_for_status


@pytest.fixture(scope="module")
def embedded_stack(tmp_path_factory):
    stack = start_stack(tmp_path_factory.mktemp("embedded"), EMBEDDED="1")
    yield stack
    stop_stack(stack)


def test_up_announces_the_embedded_mode(embedded_stack):
    assert "EMBEDDED MODE" in embedded_stack.up_output
    assert "SQLite" in embedded_stack.up_output
    assert "file-based broker" in embedded_stack.up_output


def test_an_order_is_paid_end_to_end_in_embedded_mode(embedded_stack):
    user = {"X-User-Id": f"embedded-{uuid.uuid4()}"}
    with httpx.Client(base_url=embedded_stack.gateway_url, headers=user, timeout=10) as api:
        assert api.post("/accounts").status_code == 201
        assert api.post("/accounts/deposit", json={"amount": "100"}).status_code == 200

        paid = api.post("/orders", json={"amount": "30", "description": "embedded"})
        refused = api.post("/orders", json={"amount": "500", "description": "too much"})

        # The file broker is polled once a second: allow a few hops.
        assert wait_for_status(api, paid.headers["Location"])["status"] == "FINISHED"
        cancelled = wait_for_status(api, refused.headers["Location"])
        assert (cancelled["status"], cancelled["reason"]) == ("CANCELLED", "insufficient_funds")
        assert api.get("/accounts/balance").json()["balance"] == "70.00"
    status = embedded_stack.wait_healthy()
    assert status.returncode == 0, status.stdout
