"""The live-status stage: the other endpoints' latency and the gateway's CPU and memory
while many clients wait on orders' event streams (issue 17's 1,000 subscribers at 50
orders/s), beside the same load without them.

The waiting clients stream orders made NEW for them and never paid (no "order created"
event, so no payment: each stream stays open, as a client watching a slow payment would);
they run in a process of their own (`python -m bench.live_status SPEC`), like the load
generator. The gateway listens on Orders' database with a role that may only connect
(deploy/create_databases.py --connect-only), set up here as an operator would: the URL in
the stack's env file, then a restart of the gateway.

    python -m bench.live_status SPEC   # SPEC: base_url, streams [[user, order id], ...]

prints "connected N" once every stream answered its first event (or after a minute), then
holds them until its standard input closes, and prints one JSON object: streams that
answered, events, streams that ended or failed early, errors by kind.
"""

import asyncio
import contextlib
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from bench import resources
from tests.stack import REPO_ROOT, SERVER, Stack

SUBSCRIBERS = 1000
PIPELINE_RATE = 50
GET_CLIENTS = 2  # closed-loop clients reading one order while the pipeline runs
CONNECT_SECONDS = 60

# Orders made NEW in Orders' database, with nothing sent to Payments and no re-ask due
# before tomorrow: they stay NEW.
MAKE_ORDERS = """
import json, sys, uuid
from datetime import timedelta
from decimal import Decimal
from django.utils import timezone
from orders_project.orders.models import Order
users = json.loads(sys.stdin.read())
now = timezone.now()
orders = Order.objects.bulk_create(
    Order(user_id=user, amount=Decimal("1.00"), description="bench: waits", created_at=now,
          updated_at=now, request_id=uuid.uuid4().hex, next_reask_at=now + timedelta(days=1))
    for user in users
)
print(json.dumps([str(order.id) for order in orders]))
"""


def listener_role(stack: Stack) -> str:
    return f"{stack.databases['orders']}_notify"


def enable_listener(stack: Stack) -> None:
    """The gateway LISTENs on Orders' database through a connect-only role."""
    role = listener_role(stack)
    host = SERVER.rpartition("@")[2]
    url = f"postgres://{role}:{uuid.uuid4().hex}@{host}/{stack.databases['orders']}"
    subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(REPO_ROOT / "deploy" / "create_databases.py"),
         "--admin", f"{SERVER}/postgres", "--connect-only", url],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    with Path(stack.env["ENV_FILE"]).open("a") as env_file:
        env_file.write(f"ORDERS_NOTIFY_DATABASE_URL={url}\n")
    restart = stack.manage_all("restart", "gateway")
    if restart.returncode != 0:
        raise RuntimeError(f"restarting the gateway: {restart.stdout} {restart.stderr}")


def drop_listener_role(stack: Stack) -> None:
    """The role goes (PostgreSQL lets a role with open sessions be dropped): the stack's
    own roles are dropped with it when it stops, this one is the stage's."""
    role, database = sql.Identifier(listener_role(stack)), sql.Identifier(stack.databases["orders"])
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        connection.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(database, role))
        connection.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))


def waiting_orders(stack: Stack, users: list[str]) -> list[str]:
    result = subprocess.run(  # noqa: S603
        [str(REPO_ROOT / ".venv/bin/python"), "orders_project/manage.py", "shell", "-c",
         MAKE_ORDERS],
        input=json.dumps(users), env={**stack.env,
        "DJANGO_SETTINGS_MODULE": "orders_project.settings.production"},
        cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(bench, loadgen: Callable[[str, dict], dict], seconds: float) -> dict:
    """Latency of POST /orders (at PIPELINE_RATE/s, open loop) and GET /orders/{id} (closed
    loop), and the gateway's CPU and memory: without waiting clients, then with them."""
    stack = bench.stack
    enable_listener(stack)
    try:
        return _measure(bench, loadgen, seconds)
    finally:
        drop_listener_role(stack)


def _measure(bench, loadgen, seconds: float) -> dict:
    stack = bench.stack
    users = [bench.users[n % len(bench.users)] for n in range(SUBSCRIBERS)]
    streams = list(zip(users, waiting_orders(stack, users), strict=True))
    rows = {"without": _load(bench, loadgen, seconds, streams[0])}
    holder = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "bench.live_status",
         json.dumps({"base_url": stack.gateway_url, "streams": streams})],
        cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        connected = int(holder.stdout.readline().split()[-1])
        rows["with"] = {**_load(bench, loadgen, seconds, streams[0]), "waiting": connected}
        rows["with"]["gauge"] = _subscribers_gauge(stack)
    finally:
        holder.stdin.close()
        clients = json.loads(holder.stdout.read() or "{}")
        holder.wait(timeout=60)
    return {"subscribers": SUBSCRIBERS, "rate": PIPELINE_RATE, **rows, "clients": clients}


def _load(bench, loadgen, seconds: float, stream: tuple[str, str]) -> dict:
    """The pipeline's orders and the reads of one order at once, from two processes."""
    user, order_id = stream
    order = {"base_url": bench.stack.gateway_url, "method": "POST", "path": "/orders",
             "body": {"amount": "1.00", "description": "bench"}, "users": bench.users,
             "key": True, "seconds": seconds, "rate": PIPELINE_RATE}  # fmt: skip
    read = {"base_url": bench.stack.gateway_url, "method": "GET", "path": f"/orders/{order_id}",
            "users": [user], "seconds": seconds, "concurrency": GET_CLIENTS}  # fmt: skip
    leader = bench.leaders()["gateway"]
    before = bench.cpu()
    results: dict = {}
    reader = _in_thread(lambda: results.setdefault("get", loadgen("closed", read)))
    results["post"] = loadgen("open", order)
    reader.join()
    cpu = bench.cpu_percent(before)
    memory = resources.memory_mib(leader)
    return {
        "post_latency_ms": results["post"]["latency_ms"],
        "post_errors": results["post"]["errors"],
        "get_latency_ms": results.get("get", {}).get("latency_ms"),
        "get_errors": results.get("get", {}).get("errors"),
        "gateway_cpu_percent": cpu.get("gateway"),
        "gateway_rss_mib": memory["rss_mib"],
        "gateway_pss_mib": memory["pss_mib"],
    }


def _in_thread(work: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def _subscribers_gauge(stack: Stack) -> float | None:
    """shop_gateway_live_subscribers as the gateway's /metrics reports it (loopback)."""
    text = httpx.get(f"{stack.gateway_url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith("shop_gateway_live_subscribers "):
            return float(line.split()[1])
    return None


# --- the waiting clients' process ------------------------------------------------------------


class Subscribers:
    def __init__(self, spec: dict):
        self.spec = spec
        self.answered = 0
        self.events = 0
        self.ended_early = 0
        self.errors: dict[str, int] = {}
        self.first_events = asyncio.Event()

    async def one(self, client: httpx.AsyncClient, user: str, order_id: str) -> None:
        try:
            async with client.stream(
                "GET", f"/orders/{order_id}/events", headers={"X-User-Id": user}
            ) as answer:
                if answer.status_code != 200:
                    self.error(str(answer.status_code))
                    return
                first = True
                async for line in answer.aiter_lines():
                    if line.startswith("id: "):
                        self.events += 1
                        if first:
                            first = False
                            self.answered += 1
                            if self.answered == len(self.spec["streams"]):
                                self.first_events.set()
            self.ended_early += 1
        except httpx.HTTPError as exc:
            self.error(type(exc).__name__)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    async def run(self) -> dict:
        streams = self.spec["streams"]
        limits = httpx.Limits(max_connections=len(streams), max_keepalive_connections=0)
        async with httpx.AsyncClient(
            base_url=self.spec["base_url"], limits=limits, timeout=httpx.Timeout(60, read=None)
        ) as client:
            tasks = [asyncio.create_task(self.one(client, *stream)) for stream in streams]
            started = time.perf_counter()
            with contextlib.suppress(TimeoutError):  # report how many did
                await asyncio.wait_for(self.first_events.wait(), CONNECT_SECONDS)
            connect_seconds = round(time.perf_counter() - started, 1)
            print(f"connected {self.answered}", flush=True)  # noqa: T201 - to the stage
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return {
            "answered": self.answered,
            "connect_seconds": connect_seconds,
            "events": self.events,
            "ended_early": self.ended_early,
            "errors": self.errors,
        }


def main() -> None:
    result = asyncio.run(Subscribers(json.loads(sys.argv[1])).run())
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
