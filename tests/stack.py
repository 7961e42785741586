"""A whole system for the end-to-end tests: `./manage_all.sh up` on free ports, with
databases and queues of its own, and `down` (plus dropping them) afterwards."""

import os
import re
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

from common.messaging.broker import parking_name
from common.testing import broker

REPO_ROOT = Path(__file__).resolve().parents[1]
# The database server, as its superuser (DATABASE_ADMIN_URL): a stack gets databases of its
# own on it, each owned by a role of its own as `up` makes them, dropped afterwards.
SERVER = (
    os.environ.get("DATABASE_ADMIN_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
).rsplit("/", 1)[0]
# With MESSAGING_QUEUE_TYPE=quorum each service queue has a parking queue and exchange too.
PARKING = [parking_name("orders"), parking_name("payment_status")]
QUEUES = ["orders", "payment_status", "orders.tasks", "payments.tasks", *PARKING]
EXCHANGES = [
    "orders.events", "payments.events", "orders.tasks", "payments.tasks", "celeryev", *PARKING
]  # fmt: skip
# Broker users a stack's `up` may create (deploy/broker_users.py); its `down` deletes them.
BROKER_PASSWORD_VARIABLES = [
    "ORDERS_BROKER_PASSWORD",
    "PAYMENTS_BROKER_PASSWORD",
    "FLOWER_BROKER_PASSWORD",
]
TEST_PROCESS_VARIABLES = {"DJANGO_SETTINGS_MODULE", "DJANGO_SECRET_KEY", "DJANGO_CONN_MAX_AGE"}


@dataclass
class Stack:
    env: dict[str, str]
    ports: dict[str, int]
    databases: dict[str, str]
    up_output: str = ""
    # The checkout whose manage_all.sh and code the stack runs (bench.compare runs another).
    root: Path = REPO_ROOT

    def url(self, process: str) -> str:
        return f"http://127.0.0.1:{self.ports[process]}"

    @property
    def gateway_url(self) -> str:
        return self.url("gateway")

    def manage_all(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603 - our own script
            [str(self.root / "manage_all.sh"), *args],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def supervisorctl(self, *args: str) -> subprocess.CompletedProcess:
        """supervisorctl of this stack's supervisord (manage_all.sh runs it under VAR_DIR)."""
        return subprocess.run(  # noqa: S603
            [
                str(self.root / ".venv/bin/supervisorctl"),
                "-c",
                f"{self.env['VAR_DIR']}/run/supervisord.conf",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )

    def wait_healthy(self, timeout: float = 60) -> subprocess.CompletedProcess:
        """`manage_all.sh status` until every process answers (a process restarted a moment
        ago is still starting), or its last answer at the time-out."""
        deadline = time.monotonic() + timeout
        while (status := self.manage_all("status")).returncode != 0:
            if time.monotonic() > deadline:
                break
            time.sleep(1)
        return status

    def pid(self, process: str) -> int | None:
        """The pid of a running process of the stack (its process group's leader)."""
        answer = self.supervisorctl("pid", process).stdout.strip()
        return int(answer) if answer.isdigit() and int(answer) > 0 else None

    def manage(self, service: str, *args: str) -> subprocess.CompletedProcess:
        """A service's manage.py against this stack's database."""
        return subprocess.run(  # noqa: S603
            [str(self.root / ".venv/bin/python"), f"{service}_project/manage.py", *args],
            env={**self.env, "DJANGO_SETTINGS_MODULE": f"{service}_project.settings.production"},
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
        )


def free_ports(count: int) -> list[int]:
    """Distinct free ports (held open together while they are picked)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_variable(process: str) -> str:
    """As manage_all.sh names them: ORDERS_PORT; a worker's /metrics ORDERS_WORKER_METRICS_PORT."""
    variable = process.upper().replace("-", "_")
    return f"{variable}_METRICS_PORT" if process.endswith("-worker") else f"{variable}_PORT"


def start_stack(var_dir: Path, root: Path = REPO_ROOT, **extra_env: str) -> Stack:
    """`manage_all.sh up` of the checkout at `root` with ports, databases and queues of its
    own; on any failure everything it may have started is stopped and removed before the
    error goes on."""
    # One run may start several stacks (the session's, the embedded one, ...): each gets
    # names of its own from its folder, so stopping one never drops another's databases.
    run_id = os.environ["TEST_RUN_ID"] + re.sub(r"[^a-z0-9]", "", var_dir.name.lower())[-12:]
    names = ["orders", "payments", "gateway", "flower", "orders-worker", "payments-worker"]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    databases = {service: f"e2e_{run_id}_{service}" for service in ("orders", "payments")}
    # The stack runs as deployed: not with the settings the test process gave itself
    # (a test secret, a connection per request; see common/settings/test_environment.py).
    inherited = {
        key: value
        for key, value in os.environ.items()
        if key not in TEST_PROCESS_VARIABLES and not key.endswith("_BROKER_URL")
    }
    env = inherited | {
        "VAR_DIR": str(var_dir),
        "ENV_FILE": str(var_dir / ".env"),
        "STACK_NAME": f"e2e-{run_id}",
        "MESSAGING_QUEUE_PREFIX": f"e2e-{run_id}.",
        **{port_variable(name): str(port) for name, port in ports.items()},
        # As manage_all.sh sets them for the stack's processes; here for its manage.py too
        # (an outer manage_all.sh exports its own).
        "ORDERS_URL": f"http://127.0.0.1:{ports['orders']}",
        "PAYMENTS_URL": f"http://127.0.0.1:{ports['payments']}",
        "GATEWAY_BIND": "127.0.0.1",
        # Each service as its own role, the owner of its database (deploy/create_databases.py).
        "DATABASE_ADMIN_URL": f"{SERVER}/postgres",
        "ORDERS_DATABASE_URL": role_url(databases["orders"]),
        "PAYMENTS_DATABASE_URL": role_url(databases["payments"]),
        # Its own broker users' passwords (the users are named after STACK_NAME); no broker
        # URL of a process group from this process's environment.
        **{name: uuid.uuid4().hex for name in BROKER_PASSWORD_VARIABLES},
        "DJANGO_SUPERUSER_PASSWORD": f"e2e-{uuid.uuid4().hex}",  # Django's validators pass it
        "FLOWER_PASSWORD": "e2e-flower-password",
        # The real servers, or a clear failure: never a silent fallback to SQLite.
        "EMBEDDED": "0",
        **extra_env,
    }
    stack = Stack(env=env, ports=ports, databases=databases, root=root)
    try:
        result = stack.manage_all("up")
    except BaseException:
        _stop_quietly(stack)
        raise
    if result.returncode != 0:
        logs = "\n".join(
            f"--- {log.name}\n{log.read_text()[-3000:]}" for log in (var_dir / "log").glob("*.log")
        )
        _stop_quietly(stack)
        raise RuntimeError(f"manage_all.sh up failed:\n{result.stdout}\n{result.stderr}\n{logs}")
    stack.up_output = result.stdout
    return stack


def role_url(database: str) -> str:
    """The URL of a stack's service: as the role of the database's name, which owns it."""
    host = SERVER.rpartition("@")[2]
    return f"postgres://{database}:{uuid.uuid4().hex}@{host}/{database}"


def _stop_quietly(stack: Stack) -> None:
    """Clean up after a failed start without hiding why it failed."""
    try:
        stop_stack(stack)
    except Exception as exc:
        print(f"cleaning up the failed stack: {exc}")  # noqa: T201 - shown with the failure


def stop_stack(stack: Stack) -> None:
    """Stop the processes, drop the databases, delete the queues: each step even if an
    earlier one failed; then report what failed."""
    problems = []
    down = stack.manage_all("down")
    if down.returncode != 0:
        problems.append(f"manage_all.sh down: {down.stderr}")
    try:
        with psycopg.connect(
            f"{SERVER}/postgres", autocommit=True, connect_timeout=10
        ) as connection:
            for name in stack.databases.values():
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                connection.execute(f'DROP ROLE IF EXISTS "{name}"')  # the service's role
                connection.execute(f'DROP ROLE IF EXISTS "{name}_notify"')  # the gateway's LISTEN
    except psycopg.Error as exc:
        problems.append(f"dropping databases: {exc}")
    try:
        prefix = stack.env["MESSAGING_QUEUE_PREFIX"]
        broker.delete(*(prefix + queue for queue in QUEUES))
        broker.delete_exchanges(*(prefix + exchange for exchange in EXCHANGES))
    except Exception as exc:
        problems.append(f"deleting queues: {exc}")
    leftover = broker_users_of(stack)
    if leftover:  # `down` deletes them: clean up, and say it did not
        problems.append(f"down left broker users behind: {leftover}")
        for user in leftover:
            subprocess.run(["rabbitmqctl", "-q", "delete_user", user], capture_output=True)  # noqa: S603, S607
    if problems:
        raise RuntimeError("; ".join(problems))


def broker_users_of(stack: Stack) -> list[str]:
    """The RabbitMQ users named after the stack (deploy/broker_users.py), where rabbitmqctl
    can tell (root on this machine); else none."""
    try:
        listing = subprocess.run(
            ["rabbitmqctl", "-q", "list_users"],  # noqa: S607
            capture_output=True, text=True, check=True, timeout=60,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return []
    prefix = stack.env["STACK_NAME"] + "-"
    return [line.split("\t")[0] for line in listing.splitlines() if line.startswith(prefix)]


def wait_for_status(client: httpx.Client, order_url: str, *, timeout: float = 30) -> dict:
    """Poll an order until it leaves NEW."""
    deadline = time.monotonic() + timeout
    while True:
        order = client.get(order_url).json()
        if order["status"] != "NEW" or time.monotonic() > deadline:
            return order
        time.sleep(0.05)
