"""The web tier's cost per request, in process: CPU ms and SQL statements of one endpoint.

    .venv/bin/python -m bench.web_tier orders   # POST /orders, GET /orders/{id}
    .venv/bin/python -m bench.web_tier payments # POST /accounts/deposit, GET /accounts/balance

Runs the service's whole request path (middleware, DRF, serializers, idempotency, the
database) through Django's test client, against a throwaway database of its own on the real
PostgreSQL (test_<name>_webbench), with persistent connections as in production. The
publish after commit is off (MESSAGING PUBLISH_AFTER_COMMIT): that is the relay's share,
measured by `python -m bench`; this one measures what the web process does. CPU is this
process's (time.process_time), so the client's own work is in it too, alike on both sides of
a comparison; PostgreSQL's is not. Compare two versions by running this in each checkout,
interleaved, several rounds (docs/performance.md, "Web tier").
"""

import argparse
import os
import statistics
import sys
import time
import uuid

import django
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import setup_databases, teardown_databases

SERVICES = {"orders": "orders_project.settings.test", "payments": "payments_project.settings.test"}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web_tier", description=__doc__)
    parser.add_argument("service", choices=sorted(SERVICES))
    parser.add_argument("--requests", type=int, default=300, help="per endpoint and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    os.environ["DJANGO_SETTINGS_MODULE"] = SERVICES[args.service]
    os.environ["TEST_DATABASE_SUFFIX"] = "webbench"
    os.environ["DJANGO_CONN_MAX_AGE"] = "60"  # the test environment's default is 0
    # Creating and dropping the database may take longer than a request may on a busy host.
    os.environ["DB_STATEMENT_TIMEOUT_SECONDS"] = "60"
    os.environ["LOG_LEVEL"] = "WARNING"  # an access line per request would flood the terminal
    django.setup()  # after the environment: the settings module reads it
    settings.MESSAGING = {**settings.MESSAGING, "PUBLISH_AFTER_COMMIT": False}
    databases = setup_databases(verbosity=0, interactive=False)
    try:
        endpoints = ORDERS if args.service == "orders" else PAYMENTS
        for name, prepare, call in endpoints:
            measure(name, prepare, call, args.requests, args.rounds)
    finally:
        teardown_databases(databases, verbosity=0)
    return 0


def measure(name, prepare, call, requests: int, rounds: int) -> None:
    client = Client(SERVER_NAME="localhost")  # in ALLOWED_HOSTS, as "testserver" is not
    state = prepare(client)
    for index in range(50):  # warm up: imports, caches, the connection
        call(client, state, f"warm-{index}")
    # Not CaptureQueriesContext: each request's start empties the log it reads.
    statements = []
    with connection.execute_wrapper(_recorded(statements)):
        call(client, state, "counted")
    per_request = []
    for round_ in range(rounds):
        started_cpu, started = time.process_time(), time.perf_counter()
        for index in range(requests):
            call(client, state, f"{round_}-{index}")
        cpu = (time.process_time() - started_cpu) / requests * 1000
        wall = (time.perf_counter() - started) / requests * 1000
        per_request.append(cpu)
        say(f"{name}: round {round_ + 1}: {cpu:.2f} ms CPU, {wall:.2f} ms wall per request")
    say(
        f"{name}: {len(statements)} SQL statements; CPU ms per request: median "
        f"{statistics.median(per_request):.2f}, min {min(per_request):.2f}"
    )
    for sql in statements:
        say(f"    {sql[:110]}")


def say(line: str) -> None:
    print(line, flush=True)  # noqa: T201 - the report


def _recorded(statements: list):
    def wrapper(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    return wrapper


def _headers(user_id: str, key: str | None = None) -> dict:
    headers = {"X-User-Id": user_id}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def _check(response, status: int):
    if response.status_code != status:
        raise SystemExit(f"{response.status_code}: {response.content[:300]!r}")
    return response


def _order_post(client, user_id, key):
    body = {"amount": "12.50", "description": "Two coffees"}
    _check(
        client.post(
            "/orders", body, content_type="application/json", headers=_headers(user_id, key)
        ),
        201,
    )


def _order_get(client, state, _key):
    user_id, path = state
    _check(client.get(path, headers=_headers(user_id)), 200)


def _order_prepare_get(client):
    user_id = f"bench-{uuid.uuid4()}"
    response = client.post(
        "/orders",
        {"amount": "1", "description": "x"},
        content_type="application/json",
        headers=_headers(user_id),
    )
    return user_id, _check(response, 201)["Location"]


def _account(client):
    user_id = f"bench-{uuid.uuid4()}"
    response = client.post("/accounts", content_type="application/json", headers=_headers(user_id))
    _check(response, 201)
    return user_id


def _deposit(client, user_id, key):
    _check(
        client.post(
            "/accounts/deposit",
            {"amount": "0.01"},
            content_type="application/json",
            headers=_headers(user_id, key),
        ),
        200,
    )


def _balance(client, user_id, _key):
    _check(client.get("/accounts/balance", headers=_headers(user_id)), 200)


ORDERS = [
    ("POST /orders (Idempotency-Key)", lambda _c: f"bench-{uuid.uuid4()}", _order_post),
    ("POST /orders", lambda _c: f"bench-{uuid.uuid4()}", lambda c, u, _k: _order_post(c, u, None)),
    ("GET /orders/{id}", _order_prepare_get, _order_get),
]
PAYMENTS = [
    ("POST /accounts/deposit (Idempotency-Key)", _account, _deposit),
    ("GET /accounts/balance", _account, _balance),
]

if __name__ == "__main__":
    sys.exit(main())
