"""A whole system for the end-to-end tests: `./manage_all.sh up` on free ports, with
databases and queues of its own, and `down` (plus dropping them) afterwards."""

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

from common.testing import broker

REPO_ROOT = Path(__file__).resolve().parents[1]
SERVER = "postgres://postgres@127.0.0.1:5432"
QUEUES = ["orders", "payment_status", "orders.tasks", "payments.tasks"]


@dataclass
class Stack:
    env: dict[str, str]
    orders_url: str
    payments_url: str
    databases: dict[str, str]

    def manage_all(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603 - our own script
            [str(REPO_ROOT / "manage_all.sh"), *args],
            env=self.env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def manage(self, service: str, *args: str) -> subprocess.CompletedProcess:
        """A service's manage.py against this stack's database."""
        return subprocess.run(  # noqa: S603
            [str(REPO_ROOT / ".venv/bin/python"), f"{service}_project/manage.py", *args],
            env={**self.env, "DJANGO_SETTINGS_MODULE": f"{service}_project.settings.production"},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_stack(var_dir: Path) -> Stack:
    run_id = os.environ["TEST_RUN_ID"]
    ports = {"orders": free_port(), "payments": free_port()}
    databases = {service: f"e2e_{run_id}_{service}" for service in ports}
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"} | {
        "VAR_DIR": str(var_dir),
        "ENV_FILE": str(var_dir / ".env"),
        "STACK_NAME": f"e2e-{run_id}",
        "MESSAGING_QUEUE_PREFIX": f"e2e-{run_id}.",
        "ORDERS_PORT": str(ports["orders"]),
        "PAYMENTS_PORT": str(ports["payments"]),
        "ORDERS_DATABASE_URL": f"{SERVER}/{databases['orders']}",
        "PAYMENTS_DATABASE_URL": f"{SERVER}/{databases['payments']}",
        "DJANGO_SUPERUSER_PASSWORD": "e2e-admin-password",
        "GUNICORN_WORKERS": "2",
    }
    stack = Stack(
        env=env,
        orders_url=f"http://127.0.0.1:{ports['orders']}",
        payments_url=f"http://127.0.0.1:{ports['payments']}",
        databases=databases,
    )
    result = stack.manage_all("up")
    if result.returncode != 0:
        logs = "\n".join(
            f"--- {log.name}\n{log.read_text()[-3000:]}" for log in (var_dir / "log").glob("*.log")
        )
        stop_stack(stack)
        raise RuntimeError(f"manage_all.sh up failed:\n{result.stdout}\n{result.stderr}\n{logs}")
    return stack


def stop_stack(stack: Stack) -> None:
    stack.manage_all("down")
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        for name in stack.databases.values():
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    broker.delete(*(stack.env["MESSAGING_QUEUE_PREFIX"] + queue for queue in QUEUES))


def wait_for_status(client: httpx.Client, order_url: str, *, timeout: float = 30) -> dict:
    """Poll an order until it leaves NEW."""
    deadline = time.monotonic() + timeout
    while True:
        order = client.get(order_url).json()
        if order["status"] != "NEW" or time.monotonic() > deadline:
            return order
        time.sleep(0.05)
