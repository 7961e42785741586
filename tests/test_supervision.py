"""The stack heals itself: kill -9 of any of its eight processes, and supervisord (run by
manage_all.sh) brings it back answering within 10 s. No test restarts anything."""

import os
import signal
import subprocess
import time
import uuid

import httpx
import pytest

from tests.stack import REPO_ROOT, Stack, wait_for_status

BACK_WITHIN = 10.0


def answers(stack: Stack, process: str) -> bool:
    """As `manage_all.sh status` decides it, for one process."""
    if process in ("orders", "payments", "gateway"):
        return _http_ok(f"{stack.url(process)}/readyz")
    if process == "flower":
        auth = ("admin", stack.env["FLOWER_PASSWORD"])
        return _http_ok(f"{stack.url('flower')}/healthcheck", auth=auth)
    if process.endswith("-beat"):  # running for supervisord's startsecs
        return " RUNNING " in stack.supervisorctl("status", process).stdout
    service = process.split("-")[0]
    ping = subprocess.run(  # noqa: S603
        [
            str(REPO_ROOT / ".venv/bin/celery"),
            "-A",
            f"{service}_project",
            "inspect",
            "ping",
            "--timeout",
            "2",
            "--destination",
            f"{process}.{stack.env['STACK_NAME']}@{os.uname().nodename}",
        ],
        env={**stack.env, "DJANGO_SETTINGS_MODULE": f"{service}_project.settings.production"},
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=30,
        check=False,
    )
    return ping.returncode == 0


def _http_ok(url: str, auth=None) -> bool:
    try:
        return httpx.get(url, auth=auth, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_back(stack: Stack, process: str, old_pid: int) -> float:
    """Seconds until `process` runs under a new pid and answers."""
    killed_at = time.monotonic()
    while time.monotonic() - killed_at < 30:
        pid = stack.pid(process)
        if pid not in (None, old_pid) and answers(stack, process):
            return time.monotonic() - killed_at
        time.sleep(0.2)
    pytest.fail(f"{process} not back 30 s after kill -9:\n{stack.manage_all('status').stdout}")


@pytest.mark.parametrize(
    "process",
    [
        # A gunicorn master alone: its orphaned workers must not keep the port.
        "orders",
        "payments",
        "gateway",
        "orders-worker",
        "payments-worker",
        "orders-beat",
        "payments-beat",
        "flower",
    ],
)
def test_kill_9_of_a_process_is_healed_by_the_supervisor(stack, process):
    old_pid = stack.pid(process)
    assert old_pid is not None, process

    os.kill(old_pid, signal.SIGKILL)  # the main process only; its children see it die
    took = wait_back(stack, process, old_pid)

    assert took < BACK_WITHIN, f"{process} answered again only after {took:.1f} s"


def test_orders_placed_while_the_payments_worker_is_dead_are_paid(stack):
    user = {"X-User-Id": f"e2e-{uuid.uuid4()}"}
    with httpx.Client(base_url=stack.gateway_url, headers=user, timeout=10) as api:
        assert api.post("/accounts").status_code == 201
        assert api.post("/accounts/deposit", json={"amount": "50"}).status_code == 200
        old_pid = stack.pid("payments-worker")

        os.killpg(old_pid, signal.SIGKILL)  # the worker and its pool, as a crash would
        order = api.post("/orders", json={"amount": "20", "description": "while down"})

        assert order.status_code == 201
        assert wait_for_status(api, order.headers["Location"])["status"] == "FINISHED"
        assert api.get("/accounts/balance").json()["balance"] == "30.00"
    assert stack.pid("payments-worker") not in (None, old_pid)


def restarts(stack: Stack) -> dict[str, int]:
    status = stack.wait_healthy()
    assert status.returncode == 0, status.stdout
    table = status.stdout.split("\n\n")[0]  # the metrics summary follows a blank line
    rows = [line.split() for line in table.splitlines() if not line.startswith("==>")]
    return {row[0]: int(row[2]) for row in rows[1:]}  # NAME PID RESTARTS STATE


def test_status_counts_the_restarts(stack):
    before = restarts(stack)["orders-beat"]
    old_pid = stack.pid("orders-beat")

    os.kill(old_pid, signal.SIGKILL)
    wait_back(stack, "orders-beat", old_pid)

    assert restarts(stack)["orders-beat"] == before + 1
