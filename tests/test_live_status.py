"""Live order status through the gateway, on a stack of its own: the event stream
(`GET /orders/{id}/events`) and the long-poll (`GET /orders/{id}?wait=S`), woken by Orders'
LISTEN/NOTIFY through a role that may only connect (deploy/create_databases.py).

An order is paid within tens of milliseconds. To subscribe before the change, the first
test stops Payments' worker (the order stays NEW) and starts it again once the client waits;
the others hold orders NEW (made in Orders' database without an "order created" event, and
not due for a re-ask) and apply their payment result with Orders' own service function, in
Orders' own process (manage.py shell): starting a Celery worker on this loaded machine
takes long and varies, so these tests time the change themselves.
"""

import asyncio
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import jwt
import psycopg
import pytest
from psycopg import sql

from common.testing.broker import wait_until
from tests.stack import REPO_ROOT, SERVER, start_stack, stop_stack

PROBLEM = "application/problem+json"
JWT_SECRET = secrets.token_urlsafe(48)


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory):
    # One gateway worker: the concurrency test counts that worker's threads.
    stack = start_stack(tmp_path_factory.mktemp("live"), GUNICORN_WORKERS="1")
    try:
        # `up` made the LISTEN role (<Orders' role>_notify) with the password it generated
        # into the stack's .env, and gave the gateway its URL (manage_all.sh set_notify_url).
        env_file = Path(stack.env["ENV_FILE"]).read_text()
        [password] = re.findall(r"^ORDERS_NOTIFY_DB_PASSWORD=(\S+)$", env_file, re.M)
        host = SERVER.rpartition("@")[2]
        database = stack.databases["orders"]
        stack.notify_url = f"postgres://{database}_notify:{password}@{host}/{database}"
        yield stack
    finally:
        stop_stack(stack)  # drops the role too


@pytest.fixture
def gateway(live_stack):
    with httpx.Client(base_url=live_stack.gateway_url, timeout=60) as client:
        yield client


@pytest.fixture
def payments_paused(live_stack):
    """Payments' worker stopped: new orders stay NEW until `resume()`."""
    stopped = live_stack.supervisorctl("stop", "payments-worker")
    assert "stopped" in stopped.stdout or "not running" in stopped.stdout, stopped.stdout

    def resume():
        live_stack.supervisorctl("start", "payments-worker")

    yield resume
    resume()


HOLD_ORDERS = """
import json, os, uuid
from datetime import timedelta
from decimal import Decimal
from django.utils import timezone
from orders_project.orders.models import Order
now = timezone.now()
orders = [
    Order.objects.create(user_id=user, amount=Decimal("1.00"), description="held",
                         created_at=now, updated_at=now, request_id=uuid.uuid4().hex,
                         next_reask_at=now + timedelta(days=1))
    for user in json.loads(os.environ["LIVE_TEST_ARGUMENT"])
]
print(json.dumps([str(order.id) for order in orders]))
"""
PAY_ORDERS = """
import json, os, uuid
from orders_project.orders import services
for order_id in json.loads(os.environ["LIVE_TEST_ARGUMENT"]):
    order = services.order_apply_payment_result(order_id=uuid.UUID(order_id), succeeded=True)
    assert order.status == "FINISHED", order
"""


def orders_shell(stack, code: str, argument: list[str]) -> str:
    """Python run by Orders' manage.py shell against the stack's database, given the
    argument as JSON in LIVE_TEST_ARGUMENT."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "orders_project/manage.py", "shell", "-c", code],
        env={
            **stack.env,
            "DJANGO_SETTINGS_MODULE": "orders_project.settings.production",
            "LIVE_TEST_ARGUMENT": json.dumps(argument),
        },
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def held_orders(stack, users: list[str]) -> list[str]:
    """Orders NEW until pay() (no payment is asked for them)."""
    return json.loads(orders_shell(stack, HOLD_ORDERS, users).strip().splitlines()[-1])


def pay(stack, order_ids: list[str]) -> None:
    """NEW -> FINISHED through Orders' service function (which notifies, as the worker's)."""
    orders_shell(stack, PAY_ORDERS, order_ids)


def new_user(gateway, funds: str | None = "100") -> dict[str, str]:
    caller = {"X-User-Id": f"live-{uuid.uuid4()}"}
    if funds is not None:
        assert gateway.post("/accounts", headers=caller).status_code == 201
        key = {"Idempotency-Key": uuid.uuid4().hex}
        assert gateway.post(
            "/accounts/deposit", json={"amount": funds}, headers={**caller, **key}
        ).is_success
    return caller


def place(gateway, caller, amount="30") -> str:
    order = gateway.post("/orders", json={"amount": amount, "description": "x"}, headers=caller)
    assert order.status_code == 201, order.text
    return order.json()["id"]


@dataclass
class Stream:
    """A client of one event stream, read in a thread of its own."""

    status: int | None = None
    content_type: str = ""
    events: list[dict] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    ended: bool = False
    first_event: threading.Event = field(default_factory=threading.Event)

    def read(self, base_url: str, path: str, headers: dict[str, str]) -> None:
        with (
            httpx.Client(base_url=base_url, timeout=60) as client,
            client.stream("GET", path, headers=headers) as response,
        ):
            self.status = response.status_code
            self.content_type = response.headers.get("Content-Type", "")
            event: dict = {}
            for line in response.iter_lines():
                if line.startswith(":"):
                    self.comments.append(line)
                elif line == "":
                    if "data" in event:
                        event["order"] = json.loads(event.pop("data"))
                        self.events.append(event)
                        self.first_event.set()
                    event = {}
                else:
                    name, _, value = line.partition(": ")
                    event[name] = value
        self.ended = True

    def start(self, base_url: str, path: str, headers: dict[str, str]) -> threading.Thread:
        thread = threading.Thread(target=self.read, args=(base_url, path, headers), daemon=True)
        thread.start()
        return thread


def statuses(stream: Stream) -> list[str]:
    return [event["id"] for event in stream.events]


def test_a_stream_opened_before_the_payment_gets_new_then_the_terminal_status_once(
    live_stack, gateway, payments_paused
):
    caller = new_user(gateway)
    order_id = place(gateway, caller)
    stream = Stream()
    reader = stream.start(live_stack.gateway_url, f"/orders/{order_id}/events", caller)
    assert stream.first_event.wait(10)
    assert statuses(stream) == ["NEW"]
    payments_paused()
    reader.join(120)  # the worker's start takes seconds on a loaded machine
    assert stream.ended
    assert stream.status == 200
    assert stream.content_type.startswith("text/event-stream")
    assert statuses(stream) == ["NEW", "FINISHED"]
    assert all(event["event"] == "status" for event in stream.events)
    # The data is the order exactly as GET /orders/{id} answers it.
    assert stream.events[-1]["order"] == gateway.get(f"/orders/{order_id}", headers=caller).json()


def test_a_stream_opened_after_the_payment_gets_the_terminal_status_once_and_ends(
    live_stack, gateway
):
    caller = new_user(gateway, funds=None)  # no account: CANCELLED
    order_id = place(gateway, caller)
    wait_until(
        lambda: gateway.get(f"/orders/{order_id}", headers=caller).json()["status"] != "NEW",
        timeout=30,
    )
    stream = Stream()
    stream.read(live_stack.gateway_url, f"/orders/{order_id}/events", caller)
    assert stream.status == 200
    assert statuses(stream) == ["CANCELLED"]
    assert stream.events[0]["order"]["reason"] == "account_not_found"


def test_last_event_id_resumes_without_repeating_and_a_seen_terminal_status_is_204(
    live_stack, gateway
):
    caller = {"X-User-Id": f"live-{uuid.uuid4()}"}
    [order_id] = held_orders(live_stack, [caller["X-User-Id"]])
    path = f"/orders/{order_id}/events"
    stream = Stream()
    reader = stream.start(live_stack.gateway_url, path, {**caller, "Last-Event-ID": "NEW"})
    time.sleep(1)
    assert stream.status == 200
    assert stream.events == []  # NEW was seen: not sent again
    pay(live_stack, [order_id])
    reader.join(30)
    assert statuses(stream) == ["FINISHED"]
    seen = gateway.get(path, headers={**caller, "Last-Event-ID": "FINISHED"})
    assert seen.status_code == 204
    assert seen.content == b""


def test_the_long_poll_answers_new_when_the_time_is_up_and_early_once_paid(live_stack, gateway):
    caller = {"X-User-Id": f"live-{uuid.uuid4()}"}
    [order_id] = held_orders(live_stack, [caller["X-User-Id"]])
    started = time.monotonic()
    waited = gateway.get(f"/orders/{order_id}", params={"wait": "1.5"}, headers=caller)
    assert waited.status_code == 200
    assert waited.json()["status"] == "NEW"
    assert 1.5 <= time.monotonic() - started < 5
    payer = threading.Thread(target=pay, args=(live_stack, [order_id]))
    started = time.monotonic()
    payer.start()
    early = gateway.get(f"/orders/{order_id}", params={"wait": "30"}, headers=caller)
    answered = time.monotonic()
    payer.join()
    paid = time.monotonic()
    assert early.json()["status"] == "FINISHED"
    # Answered once paid (the payer's process ends a moment after its commit), not at 30 s.
    assert answered - started < 25
    assert answered <= paid + 1
    # Terminal already: at once.
    started = time.monotonic()
    assert gateway.get(f"/orders/{order_id}?wait=30", headers=caller).json()["status"] == "FINISHED"
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("wait", ["31", "-1", "abc", "nan", "inf", ""])
def test_a_bad_wait_is_a_400_naming_it(gateway, wait):
    caller = {"X-User-Id": "live-bad-wait"}
    answer = gateway.get(f"/orders/{uuid.uuid4()}", params={"wait": wait}, headers=caller)
    assert answer.status_code == 400, answer.text
    assert answer.headers["Content-Type"] == PROBLEM
    assert "wait" in answer.json()["errors"]


def test_a_repeated_wait_is_a_400(gateway):
    caller = {"X-User-Id": "live-bad-wait"}
    answer = gateway.get(f"/orders/{uuid.uuid4()}?wait=1&wait=2", headers=caller)
    assert answer.status_code == 400
    assert "wait" in answer.json()["errors"]


def test_another_users_order_is_a_404_on_both_routes(gateway):
    owner = new_user(gateway, funds=None)
    order_id = place(gateway, owner)
    other = {"X-User-Id": f"live-{uuid.uuid4()}"}
    for path in (f"/orders/{order_id}/events", f"/orders/{order_id}?wait=1"):
        answer = gateway.get(path, headers=other)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.headers["Content-Type"] == PROBLEM
    assert gateway.get(f"/orders/{uuid.uuid4()}/events", headers=other).status_code == 404


def listener_backends(stack) -> list[int]:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s"
            " AND application_name = 'gateway-live-status'",
            [stack.databases["orders"]],
        ).fetchall()
    return [pid for (pid,) in rows]


def test_a_waiting_subscriber_gets_its_status_after_the_listener_was_killed(live_stack, gateway):
    caller = {"X-User-Id": f"live-{uuid.uuid4()}"}
    [order_id] = held_orders(live_stack, [caller["X-User-Id"]])
    stream = Stream()
    reader = stream.start(live_stack.gateway_url, f"/orders/{order_id}/events", caller)
    assert stream.first_event.wait(10)
    killed = listener_backends(live_stack)
    assert killed, "no listener connected to Orders' database"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        for pid in killed:
            connection.execute("SELECT pg_terminate_backend(%s)", [pid])
    pay(live_stack, [order_id])
    reader.join(30)
    assert statuses(stream) == ["NEW", "FINISHED"]
    # And the listener is back, on a new connection.
    wait_until(lambda: set(listener_backends(live_stack)) - set(killed), timeout=30)


def test_the_listeners_role_may_listen_and_read_nothing(live_stack):
    with psycopg.connect(live_stack.notify_url, autocommit=True) as connection:
        connection.execute("LISTEN order_status")
        for table in ("orders_order", "messaging_outboxmessage"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                connection.execute(
                    sql.SQL("SELECT 1 FROM {} LIMIT 1").format(sql.Identifier(table))
                )
    payments_url = live_stack.notify_url.rsplit("/", 1)[0] + f"/{live_stack.databases['payments']}"
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        psycopg.connect(payments_url).close()


def gateway_worker_pid(stack) -> int:
    master = stack.pid("gateway")
    children = subprocess.run(  # noqa: S603
        ["pgrep", "-P", str(master)],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(children) == 1, children
    return int(children[0])


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def test_two_hundred_clients_wait_on_one_gateway_worker_without_a_thread_each(live_stack, gateway):
    users = [f"live-{uuid.uuid4()}" for _ in range(20)]
    orders = [
        ({"X-User-Id": user}, order_id)
        for user, order_id in zip(users, held_orders(live_stack, users), strict=True)
    ]
    worker = gateway_worker_pid(live_stack)
    threads_before = thread_count(worker)
    clients = 200

    async def subscribe(client, caller, order_id, connected):
        events = []
        async with client.stream("GET", f"/orders/{order_id}/events", headers=caller) as answer:
            assert answer.status_code == 200
            async for line in answer.aiter_lines():
                if line.startswith("id: "):
                    events.append(line.removeprefix("id: "))
                    if events == ["NEW"]:
                        connected.append(order_id)
        return events

    async def run():
        connected: list[str] = []
        limits = httpx.Limits(max_connections=clients + 10)
        async with httpx.AsyncClient(
            base_url=live_stack.gateway_url, timeout=120, limits=limits
        ) as client:
            tasks = [
                asyncio.create_task(subscribe(client, *orders[i % len(orders)], connected))
                for i in range(clients)
            ]
            while len(connected) < clients:
                await asyncio.sleep(0.2)
            threads_waiting = thread_count(worker)
            metrics = await client.get("/metrics")
            await asyncio.to_thread(pay, live_stack, [order_id for _, order_id in orders])
            return threads_waiting, metrics.text, await asyncio.gather(*tasks)

    threads_waiting, metrics, results = asyncio.run(asyncio.wait_for(run(), 120))
    assert all(events == ["NEW", "FINISHED"] for events in results)
    # A greenlet per client, not a thread: the worker's threads stay few (gevent's pool
    # for name resolution, at most 10, is the same for 2 clients or 2,000).
    assert threads_waiting < 20, (threads_before, threads_waiting)
    assert "shop_gateway_live_subscribers 200.0" in metrics


def test_jwt_mode_keeps_anothers_order_a_404_on_both_routes(live_stack):
    with Path(live_stack.env["ENV_FILE"]).open("a") as env_file:
        env_file.write(f"GATEWAY_AUTH=jwt\nGATEWAY_JWT_SECRET={JWT_SECRET}\n")
    restart = live_stack.manage_all("restart", "gateway")
    assert restart.returncode == 0, restart.stdout + restart.stderr

    def token(user: str) -> dict[str, str]:
        claims = {"sub": user, "exp": int(time.time()) + 300}
        return {"Authorization": f"Bearer {jwt.encode(claims, JWT_SECRET, algorithm='HS256')}"}

    owner, other = token(f"live-{uuid.uuid4()}"), token(f"live-{uuid.uuid4()}")
    with httpx.Client(base_url=live_stack.gateway_url, timeout=30) as client:
        order_id = place(client, owner)
        stream = Stream()
        stream.read(live_stack.gateway_url, f"/orders/{order_id}/events", owner)
        assert stream.status == 200
        assert statuses(stream)[-1] == "CANCELLED"  # no account
        for path in (f"/orders/{order_id}/events", f"/orders/{order_id}?wait=1"):
            assert client.get(path, headers=other).status_code == 404
            assert client.get(path).status_code == 401
