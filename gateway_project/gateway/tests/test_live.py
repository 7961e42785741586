"""Live status at the gateway against a stand-in Orders: the event stream's format, resume
and refusals, the long-poll's `wait`, and the hub's wake-ups. (With the real services,
LISTEN/NOTIFY and gevent workers: tests/test_live_status.py.)"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateway_project.gateway import live
from gateway_project.gateway.live.hub import Hub, TooManyWaiting

ORDER_ID = "3f1e2d4c-5b6a-4789-8abc-def012345678"
CALLER = {"X-User-Id": "u-1"}


class StandInOrders(BaseHTTPRequestHandler):
    """Answers GET /orders/{id} with the order in `server.order` (None: a 404)."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.server.seen.append({"path": self.path, "headers": dict(self.headers.items())})
        order = self.server.order
        status, body = (200, order) if order else (404, {"type": "urn:problem:not-found"})
        payload = json.dumps(body).encode()
        self.send_response(status)
        content_type = "application/json" if order else "application/problem+json"
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def orders(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInOrders)
    server.seen, server.order = [], {"id": ORDER_ID, "status": "CANCELLED", "reason": "x"}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.UPSTREAMS = {
        "orders": f"http://127.0.0.1:{server.server_address[1]}",
        "payments": "http://127.0.0.1:9",
    }
    yield server
    server.shutdown()
    server.server_close()


def test_a_terminal_order_is_one_event_then_the_end(client, orders):
    response = client.get(
        f"/orders/{ORDER_ID}/events", headers={**CALLER, "Accept": "text/event-stream"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    body = b"".join(response.streaming_content).decode()
    order = json.dumps(orders.order)
    assert body == f"retry: 3000\n\nid: CANCELLED\nevent: status\ndata: {order}\n\n"
    # The stream reads the order itself, as JSON (the client's Accept is the stream's).
    assert orders.seen[-1]["path"] == f"/orders/{ORDER_ID}"
    assert "text/event-stream" not in orders.seen[-1]["headers"].get("Accept", "")


def test_a_seen_terminal_status_is_204_and_another_status_is_sent(client, orders):
    path = f"/orders/{ORDER_ID}/events"
    assert client.get(path, headers={**CALLER, "Last-Event-ID": "CANCELLED"}).status_code == 204
    response = client.get(path, headers={**CALLER, "Last-Event-ID": "NEW"})
    assert b"id: CANCELLED" in b"".join(response.streaming_content)


def test_not_the_callers_order_is_orders_own_404_before_any_stream(client, orders):
    orders.order = None
    response = client.get(f"/orders/{ORDER_ID}/events", headers=CALLER)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_head_on_the_stream_has_its_headers_and_no_body(client, orders):
    response = client.head(f"/orders/{ORDER_ID}/events", headers=CALLER)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response.content == b""


@pytest.mark.parametrize("query", ["wait=31", "wait=-0.5", "wait=x", "wait=nan", "wait=1&wait=1"])
def test_a_bad_wait_is_a_400_naming_it_and_reaches_nobody(client, orders, query):
    response = client.get(f"/orders/{ORDER_ID}?{query}", headers=CALLER)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert list(response.json()["errors"]) == ["wait"]
    assert orders.seen == []


def test_wait_stays_at_the_gateway_and_new_is_answered_when_the_time_is_up(client, orders):
    orders.order = {"id": ORDER_ID, "status": "NEW"}
    started = time.monotonic()
    response = client.get(f"/orders/{ORDER_ID}?wait=1.2&x=1", headers=CALLER)
    assert response.json()["status"] == "NEW"
    assert time.monotonic() - started >= 1.2
    # No listener here: the order was read again about every second, without `wait`.
    assert {seen["path"] for seen in orders.seen} == {f"/orders/{ORDER_ID}?x=1"}
    assert len(orders.seen) >= 2


def test_a_terminal_order_answers_the_long_poll_at_once(client, orders):
    started = time.monotonic()
    response = client.get(f"/orders/{ORDER_ID}?wait=30", headers=CALLER)
    assert response.json()["status"] == "CANCELLED"
    assert time.monotonic() - started < 1


def test_a_notification_wakes_only_its_orders_subscribers():
    hub = Hub("")  # no listener: polling
    mine, other = hub.subscribe("a"), hub.subscribe("b")
    hub.notify("a")
    assert mine.wait(0) is True
    # Without a listener a wait ends after POLL_SECONDS at most, asking for a read.
    started = time.monotonic()
    assert other.wait(5) is True
    assert 0.9 < time.monotonic() - started < 2
    mine.close()
    mine.close()  # twice is harmless
    other.close()
    assert hub._waiting == {}


def test_a_holder_gets_no_more_waits_than_its_bound_until_one_closes():
    hub = Hub("")
    bounds = {"user:u-1": 2, "address:10.0.0.1": 3}
    first, second = hub.subscribe("a", bounds), hub.subscribe("b", bounds)
    with pytest.raises(TooManyWaiting) as refused:
        hub.subscribe("c", bounds)
    assert refused.value.holder == "user:u-1"
    # Another user on the same address reaches the address's bound.
    other = hub.subscribe("c", {"user:u-2": 2, "address:10.0.0.1": 3})
    with pytest.raises(TooManyWaiting) as refused:
        hub.subscribe("d", {"user:u-3": 2, "address:10.0.0.1": 3})
    assert refused.value.holder == "address:10.0.0.1"
    assert len(hub._waiting) == 3  # a refused subscription waits on nothing
    first.close()
    first.close()  # a second close frees nothing more
    third = hub.subscribe("c", bounds)
    for subscription in (second, other, third):
        subscription.close()
    assert hub._waiting == {}
    assert hub._held == {}
    # 0: no bound.
    many = [hub.subscribe(str(n), {"address:10.0.0.1": 0}) for n in range(50)]
    assert len(hub._waiting) == 50
    for subscription in many:
        subscription.close()


@pytest.mark.parametrize("path", [f"/orders/{ORDER_ID}/events", f"/orders/{ORDER_ID}?wait=5"])
def test_a_caller_over_its_bound_of_waits_gets_a_429_problem(client, orders, settings, path):
    settings.GATEWAY_LIVE_MAX_PER_USER = 1
    orders.order = {"id": ORDER_ID, "status": "NEW"}
    held = live.hub().subscribe("x", live.bounds_of("u-1", "127.0.0.1"))  # its one wait
    try:
        response = client.get(path, headers=CALLER)
    finally:
        held.close()
    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith("too-many-waits")
    assert response["Retry-After"] == "5"
    assert orders.seen == []  # refused before any read
    # Another user is not bound by it.
    other = client.get(f"/orders/{ORDER_ID}?wait=0", headers={"X-User-Id": "u-2"})
    assert other.status_code == 200
