"""The benchmark run: a stack of its own (as the end-to-end tests start it), then each
measurement in turn, each from a process of its own; returns every figure as one dict."""

import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench import pgbench, resources
from bench.stats import percentiles
from tests.stack import REPO_ROOT, SERVER, Stack

USERS = 200
CONCURRENCY = [1, 16, 64]
# 5/s: the latency of the pipeline unloaded; 50/s and 200/s: the targets' loads.
PIPELINE_RATES = [5, 50, 200]
# "As fast as it goes": closed-loop clients placing orders back to back.
PIPELINE_MAX_CLIENTS = 32


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
        self.run_dir = Path(stack.env["VAR_DIR"]) / "run"
        self.token = _env_file_value(Path(stack.env["ENV_FILE"]), "INTERNAL_API_TOKEN")
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
                raise RuntimeError(f"setting up accounts ({path}): {result['errors']}")

    def http(self) -> list[dict]:
        """requests/s and latency per endpoint, concurrency and target."""
        order_id = loadgen(
            "each",
            {"seconds": 10, "concurrency": 1, "base_url": self.stack.gateway_url,
             "method": "POST", "path": "/orders", "users": self.users[:1],
             "body": {"amount": "1.00", "description": "bench"}},
        )["created"][0]  # fmt: skip
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
        return rows

    def pipeline(self) -> list[dict]:
        """Orders at fixed offered rates, then as fast as they go: placed -> terminal."""
        rows = []
        order = {"base_url": self.stack.gateway_url, "method": "POST", "path": "/orders",
                 "body": {"amount": "1.00", "description": "bench"}, "users": self.users,
                 "key": True, "seconds": self.seconds}  # fmt: skip
        for rate in [*PIPELINE_RATES, None]:
            before = self.cpu()
            if rate is None:
                placed = loadgen("closed", {**order, "concurrency": PIPELINE_MAX_CLIENTS})
            else:
                placed = loadgen("open", {**order, "rate": rate})
            cpu = self.cpu_percent(before)  # while placing, not while waiting for the rest
            row = {"offered": rate or "max", "placed": placed["requests"],
                   "placing_rate": placed["rate"], "http_errors": placed["errors"],
                   "http_latency_ms": placed["latency_ms"],
                   **self.terminal_times(placed["created"])}  # fmt: skip
            row["cpu_percent"] = cpu
            rows.append(row)
        return rows

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
            return {
                "relay": self.orders_process("bench.messaging_rates", "relay", str(outbox_rows)),
                "drain": self.orders_process("bench.messaging_rates", "drain", str(inbox_rows)),
            }
        finally:
            for name in ("orders-worker", "orders-beat"):
                self.stack.manage_all("start", name)

    def orders_process(self, module: str, *args: str) -> dict:
        output = subprocess.run(  # noqa: S603
            [sys.executable, "-m", module, *args],
            cwd=REPO_ROOT,
            env={**self.stack.env, "DJANGO_SETTINGS_MODULE": "orders_project.settings.production"},
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        ).stdout
        return json.loads(output)

    def pgbench(self) -> dict:
        database = f"{self.stack.databases['orders']}_pgbench"
        return pgbench.simple_update_tps(SERVER, database, seconds=max(5, int(self.seconds)))

    # --- resources -----------------------------------------------------------------------

    def memory(self) -> dict:
        per_process = {
            name: resources.memory_mib(pid) for name, pid in resources.leaders(self.run_dir).items()
        }
        return {
            "processes": per_process,
            "total_rss_mib": round(sum(p["rss_mib"] for p in per_process.values()), 1),
            "total_pss_mib": round(sum(p["pss_mib"] for p in per_process.values()), 1),
        }

    def cpu(self) -> tuple[float, dict[str, float]]:
        return time.monotonic(), {
            name: resources.cpu_seconds(pid)
            for name, pid in resources.leaders(self.run_dir).items()
        }

    def cpu_percent(self, before: tuple[float, dict[str, float]]) -> dict[str, float]:
        """Each process's CPU since `before`, in % of one core (200 % = both cores)."""
        started, cpu_before = before
        now, cpu_now = self.cpu()
        wall = now - started
        shares = {
            name: round((cpu_now[name] - cpu_before.get(name, 0)) / wall * 100) for name in cpu_now
        }
        return {**shares, "total": sum(shares.values())}


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


def _env_file_value(path: Path, name: str) -> str:
    for line in path.read_text().splitlines():
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1].strip().strip("'\"")
    raise RuntimeError(f"{name} not in {path}")


def run_all(stack: Stack, *, seconds: float, outbox_rows: int, inbox_rows: int) -> dict:
    bench = Bench(stack, seconds)
    figures: dict = {"machine": machine(), "seconds_per_measurement": seconds}
    bench.open_accounts()
    time.sleep(5)  # let the start-up and the set-up settle before "idle"
    figures["idle_memory"] = bench.memory()
    figures["pgbench"] = bench.pgbench()
    figures["http"] = bench.http()
    figures["pipeline"] = bench.pipeline()
    # Before the messaging rates, which restart the Orders worker.
    figures["memory_after_load"] = bench.memory()
    figures["messaging"] = bench.messaging(outbox_rows, inbox_rows)
    return figures
