"""A stack as `up` starts it runs on least privilege (docs/security.md): each process group
connects to RabbitMQ as its own user and each service to PostgreSQL as its own role, not a
superuser, with passwords `up` generated. (That every order still gets paid on these users
is what the other end-to-end tests show; tests/test_broker_permissions.py and
tests/test_database_roles.py show what the broker and the database refuse them.)"""

import os
import re
import subprocess
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.stack import SERVER, broker_users_of

GROUP_OF = {
    "orders": "orders", "orders-worker": "orders", "orders-beat": "orders",
    "payments": "payments", "payments-worker": "payments", "payments-beat": "payments",
    "flower": "flower",
}  # fmt: skip


def env_file_values(stack) -> dict[str, str]:
    lines = Path(stack.env["ENV_FILE"]).read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def test_up_generates_the_services_passwords(stack):
    values = env_file_values(stack)
    for name in (
        "ORDERS_DB_PASSWORD", "PAYMENTS_DB_PASSWORD", "POSTGRES_SUPERUSER_PASSWORD",
        "ORDERS_BROKER_PASSWORD", "PAYMENTS_BROKER_PASSWORD", "FLOWER_BROKER_PASSWORD",
    ):  # fmt: skip
        assert len(values[name]) >= 24, name
    for service in ("orders", "payments"):
        password = values[f"{service.upper()}_DB_PASSWORD"]
        assert values[f"{service.upper()}_DATABASE_URL"] == (
            f"postgres://{service}:{password}@127.0.0.1:5432/{service}"
        )


def broker_connections() -> dict[int, str]:
    """Local port -> user of every AMQP connection RabbitMQ has."""
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "user", "peer_port"],  # noqa: S607
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    result = {}
    for line in listing.splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and parts[1].isdigit():
            result[int(parts[1])] = parts[0]
    return result


def process_group_ports() -> dict[int, set[int]]:
    """Process group -> the local ports of its connections to RabbitMQ."""
    sockets = subprocess.run(
        ["ss", "-tnpH", "dst", "127.0.0.1:5672"],  # noqa: S607
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    groups: dict[int, set[int]] = {}
    for line in sockets.splitlines():
        port = re.search(r"127\.0\.0\.1:(\d+)\s", line)
        for pid in re.findall(r"pid=(\d+),", line):
            try:
                groups.setdefault(os.getpgid(int(pid)), set()).add(int(port.group(1)))
            except ProcessLookupError:
                continue
    return groups


def test_each_process_group_uses_its_own_broker_user(stack):
    prefix = stack.env["STACK_NAME"] + "-"
    assert sorted(broker_users_of(stack)) == [prefix + g for g in ("flower", "orders", "payments")]
    users = broker_connections()
    ports = process_group_ports()
    seen = {}
    for process in GROUP_OF:
        leader = stack.pid(process)
        assert leader, process
        for port in ports.get(os.getpgid(leader), ()):
            if port in users:
                seen.setdefault(process, set()).add(users[port])
    # Every connection of a process is its group's user; the workers and Flower always
    # hold one (their consumers), the others whenever they have published lately.
    assert {"orders-worker", "payments-worker", "flower"} <= set(seen), seen
    for process, found in seen.items():
        assert found == {prefix + GROUP_OF[process]}, process


def test_each_service_uses_its_own_database_role(stack):
    for service in stack.databases:  # each opens (or checks) its connection
        assert httpx.get(f"{stack.url(service)}/readyz").status_code == 200
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        for service, database in stack.databases.items():
            rows = connection.execute(
                "SELECT DISTINCT a.usename, r.rolsuper, r.rolcreatedb FROM pg_stat_activity a"
                " JOIN pg_roles r ON r.rolname = a.usename WHERE a.datname = %s",
                [database],
            ).fetchall()
            assert (database, False, False) in rows, service
            # Besides the service, only the gateway's LISTEN on Orders' database (live order
            # status, from the first subscription on), as a role that may only connect.
            others = {(f"{database}_notify", False, False)} if service == "orders" else set()
            assert set(rows) <= {(database, False, False), *others}, service


def test_flowers_login_is_not_on_its_command_line(stack):
    command_line = Path(f"/proc/{stack.pid('flower')}/cmdline").read_bytes()
    assert stack.env["FLOWER_PASSWORD"].encode() not in command_line
    assert b"basic_auth" not in command_line


@pytest.mark.parametrize("process", ["orders", "payments"])
def test_the_admins_keep_their_sessions_apart(stack, process):
    login = httpx.get(f"{stack.url(process)}/admin/login/")
    assert login.status_code == 200
    assert f"{process}_csrftoken" in login.cookies


def test_nothing_the_processes_do_is_refused_by_the_broker(stack):
    # Beat's sweeps, wake-ups, events, pings and the relay, a few rounds of each: a refused
    # operation closes its channel with ACCESS_REFUSED, which the process logs.
    assert stack.wait_healthy().returncode == 0
    time.sleep(3)
    logs = Path(stack.env["VAR_DIR"]) / "log"
    refused = [
        f"{log.name}: {line}"
        for log in sorted(logs.glob("*.log"))
        for line in log.read_text(errors="replace").splitlines()
        if "ACCESS_REFUSED" in line
    ]
    assert refused == []
