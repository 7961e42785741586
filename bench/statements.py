"""Statements per order, end to end: `python -m bench.statements [--orders N] [--clients C]`.

Starts a stack of its own (as the benchmark does), opens accounts, then turns PostgreSQL's
statement log on for the whole server (ALTER SYSTEM log_statement = 'all', a reload: it
reaches every open connection), places orders through the gateway and waits until all are
terminal, turns the log off again and counts the statements of the stack's two databases in
the log (log_line_prefix names the database: `%u@%d`), by database and by kind.

Beat's sweeps run every hour here, not every second, so the window holds only what the
orders cost: the request, the consumers, the publishes and the live-status notifications.
One order alone shows the cost when nothing is batched; many at once (--clients) how it is
shared by batches under load. Needs the superuser (DATABASE_ADMIN_URL) and the server's log
file (LOG_FILE, /var/log/postgresql/postgresql-15-main.log by default).
"""

import argparse
import collections
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import django
import httpx
import psycopg

LOG_FILE = Path(os.environ.get("LOG_FILE", "/var/log/postgresql/postgresql-15-main.log"))
STATEMENT = re.compile(r"\s(?P<user>\S*)@(?P<database>\S+)\s+LOG:\s+statement:\s(?P<sql>.*)")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.statements", description=__doc__)
    parser.add_argument("--orders", type=int, default=1)
    parser.add_argument("--clients", type=int, default=1)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    from tests.stack import SERVER, start_stack, stop_stack

    var_dir = Path(tempfile.mkdtemp(prefix="statements-"))
    stack = start_stack(
        var_dir,
        INTERNAL_API_TOKEN=secrets.token_urlsafe(32),
        GATEWAY_RATE_LIMIT_PER_USER="0",
        GATEWAY_RATE_LIMIT_PER_ADDRESS="0",
        MESSAGING_SWEEP_INTERVAL_SECONDS="3600",
    )
    try:
        users = [f"statements-{n}-{secrets.token_hex(4)}" for n in range(args.clients)]
        for user in users:
            with client(stack, user) as api:
                api.post("/accounts").raise_for_status()
                api.post("/accounts/deposit", json={"amount": "1000000"}).raise_for_status()
        time.sleep(2)  # the accounts' own work settles
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
            start = LOG_FILE.stat().st_size
            set_statement_log(admin, "all")
            try:
                locations = place_all(stack, users, args.orders)
                time.sleep(3)  # no polling while the pipeline works: reads would count
            finally:
                set_statement_log(admin, None)
        lines = read_from(start)
        check_terminal(stack, locations)
    finally:
        stop_stack(stack)
        shutil.rmtree(var_dir, ignore_errors=True)
    print(report(lines, stack.databases, args.orders, args.clients))  # noqa: T201
    return 0


def client(stack, user: str) -> httpx.Client:
    return httpx.Client(base_url=stack.gateway_url, headers={"X-User-Id": user}, timeout=30)


def set_statement_log(admin: psycopg.Connection, value: str | None) -> None:
    if value is None:
        admin.execute("ALTER SYSTEM RESET log_statement")
    else:
        admin.execute(f"ALTER SYSTEM SET log_statement = '{value}'")
    admin.execute("SELECT pg_reload_conf()")
    time.sleep(0.5)  # the backends read the configuration between statements


def place_all(stack, users: list[str], orders: int) -> list[tuple[str, str]]:
    """Places `orders` orders from len(users) clients at once; returns (user, location)."""

    def place(user: str, count: int) -> list[tuple[str, str]]:
        with client(stack, user) as api:
            return [
                (
                    user,
                    api.post("/orders", json={"amount": "1", "description": "n"}).headers[
                        "Location"
                    ],
                )
                for _ in range(count)
            ]

    shares = [orders // len(users) + (n < orders % len(users)) for n in range(len(users))]
    with ThreadPoolExecutor(len(users)) as pool:
        return [placed for some in pool.map(place, users, shares) for placed in some]


def check_terminal(stack, locations: list[tuple[str, str]]) -> None:
    """Every order reached a terminal status within the window (else the count is short)."""
    for user, location in locations:
        with client(stack, user) as api:
            status = api.get(location).json().get("status")
        if status not in ("FINISHED", "CANCELLED"):
            raise RuntimeError(f"{location} is {status} 3 s after the last order was placed")


def read_from(offset: int) -> list[str]:
    time.sleep(1)  # the server's log is written by another process
    with LOG_FILE.open(errors="replace") as log:
        log.seek(offset)
        return log.read().splitlines()


def kind_of(sql: str) -> str:
    if not sql.strip():  # a statement whose text starts on the next line of the log
        return "WITH ... UPDATE ... RETURNING (the outbox claim)"
    words = sql.strip().split()
    first = words[0].upper() if words else ""
    if first == "SELECT" and "pg_notify" in sql:
        return "SELECT pg_notify"
    if first == "SELECT" and "FOR UPDATE" in sql.upper():
        return "SELECT ... FOR UPDATE"
    if first == "SELECT" and sql.strip() == "SELECT 1":
        return "SELECT 1 (health check)"
    if first in ("SET", "RELEASE"):
        return " ".join(words[:2]).upper()
    return first


def report(lines, databases: dict, orders: int, clients: int) -> str:
    names = {database: service for service, database in databases.items()}
    counts: dict[str, collections.Counter] = {
        service: collections.Counter() for service in databases
    }
    for line in lines:
        if (match := STATEMENT.search(line)) and match["database"] in names:
            counts[names[match["database"]]][kind_of(match["sql"])] += 1
    total = sum(sum(c.values()) for c in counts.values())
    out = [
        f"{orders} order(s) from {clients} client(s) through the gateway, each terminal",
        f"statements in all: {total}, per order {total / orders:.2f}",
    ]
    for service, counter in counts.items():
        out.append(
            f"  {service}: {sum(counter.values())} ({sum(counter.values()) / orders:.2f} per order)"
        )
        for kind, count in counter.most_common():
            out.append(f"    {count:6d}  {kind}")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
