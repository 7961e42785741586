"""The benchmark run: a stack of its own (as the end-to-end tests start it), then each
measurement in turn, each from a process of its own; returns every figure as one dict.
A measurement that fails leaves {"error": why} in its place (the report shows n/a and
the reason), so one failure does not cost the figures of the others."""

import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg

from bench import live_status, messaging_rates, pgbench, resources
from bench.stats import percentiles
from tests.stack import REPO_ROOT, SERVER, Stack

USERS = 200
CONCURRENCY = [1, 16, 64]
# 5/s: the latency of the pipeline unloaded; 50/s and 200/s: the targets' loads.
PIPELINE_RATES = [5, 50, 200]
# "As fast as it goes": closed-loop clients placing orders back to back.
PIPELINE_MAX_CLIENTS = 32
# The HTTP table's row of a plain client: threads with `requests` through the gateway.
PLAIN_CLIENT = "gateway (requests, threads)"


def loadgen(mode: str, spec: dict) -> dict:
    output = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.loadgen", mode, json.dumps(spec)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=spec["seconds"] + 300,
    ).stdout
    return json.loads(output)


class Bench:
    def __init__(self, stack: Stack, seconds: float):
        self.stack = stack
        self.seconds = seconds
        self.token = internal_token(stack)
        run_id = stack.env["STACK_NAME"].removeprefix("e2e-")
        self.users = [f"bench-{run_id}-{n}" for n in range(USERS)]

    def base(self, target: str) -> tuple[str, dict]:
        """URL and headers of the gateway, or of a service called directly (as the gateway
        does, with the internal token)."""
        if target == "gateway":
            return self.stack.gateway_url, {}
        return self.stack.url(target), {"X-Internal-Token": self.token}

    # --- the measurements ----------------------------------------------------------------

    def open_accounts(self) -> None:
        spec = {"seconds": 60, "concurrency": 8}
        for path, body in (("/accounts", None), ("/accounts/deposit", {"amount": "1000000"})):
            result = loadgen(
                "each",
                {**spec, "base_url": self.stack.gateway_url, "method": "POST", "path": path,
                 "users": self.users, "body": body},
            )  # fmt: skip
            if result["errors"]:
                raise RuntimeError(
                    f"setting up accounts ({path}): {result['errors']}, first: "
                    f"{result['first_error']}"
                )

    def check_direct_access(self) -> None:
        """One call to each service as the direct measurements make them: a refused token
        (or a wrong address) stops the run now, not as a table of errors minutes later."""
        for service, path in (("orders", "/orders"), ("payments", "/accounts/balance")):
            base_url, headers = self.base(service)
            try:
                answer = httpx.get(
                    base_url + path, headers={**headers, "X-User-Id": self.users[0]}, timeout=10
                )
            except httpx.HTTPError as exc:
                raise RuntimeError(f"{service} at {base_url} does not answer: {exc}") from exc
            if answer.status_code != 200:
                raise RuntimeError(
                    f"GET {base_url}{path} with the internal token answered "
                    f"{answer.status_code}: {answer.text[:300]} (does the stack run with "
                    "the token the benchmark sends? see internal_token())"
                )

    def http(self) -> list[dict]:
        """requests/s and latency per endpoint, concurrency and target."""
        first = loadgen(
            "each",
            {"seconds": 10, "concurrency": 1, "base_url": self.stack.gateway_url,
             "method": "POST", "path": "/orders", "users": self.users[:1],
             "body": {"amount": "1.00", "description": "bench"}},
        )  # fmt: skip
        if not first["created"]:
            raise RuntimeError(f"placing the order to GET: {first['first_error']}")
        order_id = first["created"][0]
        order, deposit = {"amount": "1.00", "description": "bench"}, {"amount": "1.00"}
        endpoints = [
            ("POST /orders", "orders", "POST", "/orders", order, self.users),
            ("GET /orders/{id}", "orders", "GET", f"/orders/{order_id}", None, self.users[:1]),
            (
                "POST /accounts/deposit",
                "payments",
                "POST",
                "/accounts/deposit",
                deposit,
                self.users,
            ),
        ]
        rows = []
        for name, service, method, path, body, users in endpoints:
            for concurrency in CONCURRENCY:
                for target in ("gateway", service):
                    base_url, headers = self.base(target)
                    result = loadgen(
                        "closed",
                        {"base_url": base_url, "headers": headers, "method": method,
                         "path": path, "body": body, "users": users, "key": method == "POST",
                         "seconds": self.seconds, "concurrency": concurrency},
                    )  # fmt: skip
                    result.pop("created")
                    rows.append(
                        {"endpoint": name, "concurrency": concurrency,
                         "via": "gateway" if target == "gateway" else "direct", **result}
                    )  # fmt: skip
        rows.append(self.plain_client(order))
        return rows

    def plain_client(self, order: dict) -> dict:
        """POST /orders through the gateway as a plain client sends it: 16 threads with
        `requests` (loadgen's threads mode), beside the asyncio clients' rows."""
        result = loadgen(
            "threads",
            {"base_url": self.stack.gateway_url, "method": "POST", "path": "/orders",
             "body": order, "users": self.users, "key": True, "seconds": self.seconds,
             "concurrency": 16},
        )  # fmt: skip
        result.pop("created")
        return {"endpoint": "POST /orders", "concurrency": 16, "via": PLAIN_CLIENT, **result}

    def pipeline(self) -> list[dict]:
        """Orders at fixed offered rates, then as fast as they go: placed -> terminal."""
        rows = []
        order = {"base_url": self.stack.gateway_url, "method": "POST", "path": "/orders",
                 "body": {"amount": "1.00", "description": "bench"}, "users": self.users,
                 "key": True, "seconds": self.seconds}  # fmt: skip
        for rate in [*PIPELINE_RATES, None]:
            started = datetime.now(UTC)
            before = self.cpu()
            if rate is None:
                placed = loadgen("closed", {**order, "concurrency": PIPELINE_MAX_CLIENTS})
            else:
                placed = loadgen("open", {**order, "rate": rate})
            cpu = self.cpu_percent(before)  # while placing, not while waiting for the rest
            row = {"offered": rate or "max", "placed": placed["requests"],
                   "placing_rate": placed["rate"], "http_errors": placed["errors"],
                   "http_first_error": placed["first_error"],
                   "http_latency_ms": placed["latency_ms"],
                   **self.terminal_times(placed["created"])}  # fmt: skip
            row["cpu_percent"] = cpu
            # The CPU per order: from the first order placed until the last is terminal.
            row["cpu_per_order"] = self.cpu_per_order(started, before)
            rows.append(row)
        return rows

    def cpu_per_order(self, started: datetime, before: tuple[float, resources.CpuSnapshot]):
        """CPU seconds of all the stack's processes since `before`, per order that reached a
        terminal status since `started` (by its updated_at: an order of an earlier run that
        finished meanwhile counts too, as its CPU does)."""
        _, cpu_before = before
        now, cpu_now = self.cpu()
        used = resources.cpu_used(cpu_before, cpu_now)
        with psycopg.connect(self.stack.env["ORDERS_DATABASE_URL"]) as connection:
            (orders,) = connection.execute(
                "SELECT count(*) FROM orders_order WHERE status <> 'NEW' AND updated_at >= %s",
                [started],
            ).fetchone()
        return {
            "ms_per_order": resources.cpu_ms_per_order(used, orders),
            "cpu_seconds": round(sum(used.values()), 2),
            "orders_terminal": orders,
            "window_seconds": round(now - before[0], 2),
            "per_process_seconds": {name: round(seconds, 2) for name, seconds in used.items()},
        }

    def terminal_times(self, order_ids: list[str], timeout: float = 180) -> dict:
        """From the orders' own timestamps: created_at (the 201) to updated_at (the
        terminal status), once all are terminal; and the rate they became terminal at."""
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.stack.env["ORDERS_DATABASE_URL"]) as connection:
            while True:
                rows = connection.execute(
                    "SELECT status, created_at, updated_at FROM orders_order WHERE id = ANY(%s)",
                    [order_ids],
                ).fetchall()
                connection.commit()
                done = [row for row in rows if row[0] != "NEW"]
                if len(done) == len(order_ids) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        latencies = [(updated - created).total_seconds() * 1000 for _, created, updated in done]
        span = (max(r[2] for r in done) - min(r[1] for r in done)).total_seconds() if done else 0
        return {
            "terminal": len(done),
            "not_terminal": len(order_ids) - len(done),
            "finished": sum(row[0] == "FINISHED" for row in done),
            "to_terminal_ms": percentiles(latencies),
            "terminal_rate": round(len(done) / span, 1) if span else None,
        }

    def messaging(self, outbox_rows: int, inbox_rows: int) -> dict:
        """Relay and drain rates with the Orders worker and beat stopped (nothing else
        takes the rows); both restarted afterwards."""
        for name in ("orders-beat", "orders-worker"):
            self.stack.manage_all("stop", name)
        try:
            rates: dict = {}
            _measure(rates, "relay", lambda: self.messaging_rate("relay", outbox_rows))
            _measure(rates, "drain", lambda: self.messaging_rate("drain", inbox_rows))
            return rates
        finally:
            for name in ("orders-worker", "orders-beat"):
                self.stack.manage_all("start", name)

    def messaging_rate(self, what: str, rows: int) -> dict:
        """bench.messaging_rates in an Orders process (which logs to stdout too)."""
        output = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "bench.messaging_rates", what, str(rows)],
            cwd=REPO_ROOT,
            env={**self.stack.env, "DJANGO_SETTINGS_MODULE": "orders_project.settings.production"},
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        ).stdout
        return messaging_rates.result_of(output)

    def live_subscribers(self) -> dict:
        """Issue 17's figure: the other endpoints' latency and the gateway's CPU and memory
        with 1,000 clients waiting on event streams, beside the same load without them."""
        return live_status.measure(self, loadgen, self.seconds)

    def pgbench(self) -> dict:
        database = f"{self.stack.databases['orders']}_pgbench"
        return pgbench.simple_update_tps(SERVER, database, seconds=max(5, int(self.seconds)))

    # --- resources -----------------------------------------------------------------------

    def leaders(self) -> dict[str, int]:
        """The stack's processes (name -> pid of the group leader), as supervisord runs them."""
        return resources.leaders(self.stack.supervisorctl("status").stdout)

    def memory(self) -> dict:
        per_process = {name: resources.memory_mib(pid) for name, pid in self.leaders().items()}
        if not per_process:
            raise RuntimeError("supervisorctl status names no running process")
        return {
            "processes": per_process,
            "total_rss_mib": round(sum(p["rss_mib"] for p in per_process.values()), 1),
            "total_pss_mib": round(sum(p["pss_mib"] for p in per_process.values()), 1),
        }

    def cpu(self) -> tuple[float, resources.CpuSnapshot]:
        return time.monotonic(), {
            name: (pid, resources.cpu_seconds(pid)) for name, pid in self.leaders().items()
        }

    def cpu_percent(self, before: tuple[float, resources.CpuSnapshot]) -> dict[str, float]:
        """Each process's CPU since `before`, in % of one core (200 % = both cores); a
        process restarted meanwhile (another pid) counts from its start."""
        started, cpu_before = before
        now, cpu_now = self.cpu()
        wall = now - started
        used = resources.cpu_used(cpu_before, cpu_now)
        shares = {name: round(seconds / wall * 100) for name, seconds in used.items()}
        return {**shares, "total": sum(shares.values())}

    def idle_cpu(self, seconds: float = 5) -> dict[str, float]:
        """The stack's CPU with no load (sweeps, beats, Flower), in % of one core."""
        before = self.cpu()
        time.sleep(seconds)
        return self.cpu_percent(before)


def machine() -> dict:
    with open("/proc/cpuinfo") as cpuinfo:
        model = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), "?"
        )
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def internal_token(stack: Stack) -> str:
    """The INTERNAL_API_TOKEN the stack's processes run with: as manage_all.sh reads it,
    the environment's (even empty) wins over the env file's. The stack inherits the
    environment of the process that started it, and that holds the repository's own .env
    once anything read it (Django's settings do): the token `up` writes into the stack's env
    file is then not the one its services check."""
    if "INTERNAL_API_TOKEN" in stack.env:
        return stack.env["INTERNAL_API_TOKEN"]
    return _env_file_value(Path(stack.env["ENV_FILE"]), "INTERNAL_API_TOKEN")


def _env_file_value(path: Path, name: str) -> str:
    for line in path.read_text().splitlines():
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1].strip().strip("'\"")
    raise RuntimeError(f"{name} not in {path}")


def _measure(figures: dict, name: str, measurement: Callable[[], object]) -> None:
    """figures[name] = the measurement's result, or {"error": why} if it failed."""
    try:
        figures[name] = measurement()
    except Exception as exc:
        traceback.print_exc()
        why = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, subprocess.CalledProcessError) and exc.stderr:
            why += " | " + " ".join(exc.stderr.strip().splitlines()[-3:])
        figures[name] = {"error": why}


def run_all(stack: Stack, *, seconds: float, outbox_rows: int, inbox_rows: int) -> dict:
    bench = Bench(stack, seconds)
    figures: dict = {"machine": machine(), "seconds_per_measurement": seconds}
    # These stop the run at once: without accounts nothing can be measured, and a service
    # refusing the direct calls means a misconfigured stack, not a figure.
    bench.open_accounts()
    bench.check_direct_access()
    time.sleep(5)  # let the start-up and the set-up settle before "idle"
    _measure(figures, "idle_memory", bench.memory)
    _measure(figures, "idle_cpu", bench.idle_cpu)
    _measure(figures, "pgbench", bench.pgbench)
    _measure(figures, "http", bench.http)
    _measure(figures, "pipeline", bench.pipeline)
    # Before the messaging rates, which restart the Orders worker.
    _measure(figures, "memory_after_load", bench.memory)
    _measure(figures, "messaging", lambda: bench.messaging(outbox_rows, inbox_rows))
    # Last: it restarts the gateway (to listen on Orders' database).
    _measure(figures, "live_status", bench.live_subscribers)
    return figures
