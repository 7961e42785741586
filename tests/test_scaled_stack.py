"""Many instances of everything on one machine: `SCALE=2 ./manage_all.sh up` runs two
gateways on the one public port (SO_REUSEPORT), two workers and two beats per service, and
the invariants hold: every order is paid or cancelled once, balances add up, the ledger
audit is clean, and no message spends an attempt (on a deadlock or anything else)."""

import os
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.stack import free_ports, start_stack, stop_stack, wait_for_status

SCALED = [
    "orders",
    "payments",
    "gateway",
    "gateway-2",
    "orders-worker",
    "orders-worker-2",
    "payments-worker",
    "payments-worker-2",
    "orders-beat",
    "orders-beat-2",
    "payments-beat",
    "payments-beat-2",
    "flower",
]
USERS = 6
ORDERS_PER_USER = 12  # of 10.00 each, against 100.00: 10 finish, 2 are cancelled per user


@pytest.fixture(scope="module")
def scaled(tmp_path_factory):
    worker_ports = free_ports(2)
    stack = start_stack(
        tmp_path_factory.mktemp("scaled"),
        SCALE="2",
        ORDERS_WORKER_2_METRICS_PORT=str(worker_ports[0]),
        PAYMENTS_WORKER_2_METRICS_PORT=str(worker_ports[1]),
    )
    yield stack
    stop_stack(stack)


def test_every_instance_runs_and_answers(scaled):
    status = scaled.wait_healthy()
    assert status.returncode == 0, status.stdout + status.stderr
    table = status.stdout.split("\n\n")[0]  # the metrics summary follows a blank line
    rows = {line.split()[0]: line for line in table.splitlines() if line.strip()}
    for name in SCALED:
        assert name in rows, status.stdout
        assert "running, answers" in rows[name], status.stdout


def test_orders_on_a_scaled_stack_are_paid_exactly_once(scaled):
    users = [f"scaled-{uuid.uuid4()}" for _ in range(USERS)]
    for user in users:
        with client(scaled, user) as api:
            assert api.post("/accounts").status_code == 201
            assert api.post("/accounts/deposit", json={"amount": "100.00"}).status_code == 200

    def place(user: str) -> str:
        # A client (a connection) per order: the kernel spreads connections over the gateways.
        with client(scaled, user) as api:
            created = api.post("/orders", json={"amount": "10.00", "description": "scaled"})
        assert created.status_code == 201, created.text
        return created.headers["Location"]

    with ThreadPoolExecutor(max_workers=12) as pool:
        placed = list(pool.map(place, [u for u in users for _ in range(ORDERS_PER_USER)]))

    for user in users:
        with client(scaled, user) as api:
            mine = [url for url in placed if api.get(url).status_code == 200]
            final = [wait_for_status(api, url) for url in mine]
            outcomes = sorted((order["status"], order["reason"]) for order in final)
            assert outcomes == [("CANCELLED", "insufficient_funds")] * 2 + [("FINISHED", None)] * 10
            assert api.get("/accounts/balance").json()["balance"] == "0.00"

    # Each instance did a share of the work.
    logs = Path(scaled.env["VAR_DIR"]) / "log"
    for gateway in ("gateway", "gateway-2"):
        assert "POST /orders" in (logs / f"{gateway}.log").read_text(), gateway
    for worker in ("payments-worker", "payments-worker-2"):
        log = (logs / f"{worker}.log").read_text()
        assert " paid: " in log or " refused: " in log, worker

    # No message needed a second attempt: no deadlock between the competing consumers,
    # whose batches lock accounts in key order.
    count = (
        "from common.messaging.models import InboxMessage as M;"
        "print(M.objects.filter(attempts__gt=1).count(),"
        " M.objects.exclude(status='done').count())"
    )
    for service in ("payments", "orders"):
        retried = scaled.manage(service, "shell", "--no-imports", "-c", count)
        assert retried.returncode == 0, retried.stderr
        assert retried.stdout.split() == ["0", "0"], (service, retried.stdout)
    for log in logs.glob("*.log"):
        assert "deadlock detected" not in log.read_text(), log.name

    audit = scaled.manage("payments", "audit_ledger")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "clean" in audit.stdout


def test_the_other_gateway_answers_while_one_is_killed(scaled):
    killed = scaled.pid("gateway")
    os.killpg(killed, signal.SIGKILL)
    # Until supervisord has it back, every new connection goes to gateway-2.
    answered = 0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        response = httpx.get(f"{scaled.gateway_url}/healthz", timeout=5)
        assert response.status_code == 200
        answered += 1
    assert answered >= 3  # each answered 200 (a loaded machine answers few in 3 s)
    status = scaled.wait_healthy()
    assert status.returncode == 0, status.stdout
    assert scaled.pid("gateway") not in (None, killed)


def client(stack, user: str) -> httpx.Client:
    return httpx.Client(base_url=stack.gateway_url, headers={"X-User-Id": user}, timeout=15)
