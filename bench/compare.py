"""Two designs side by side in one run: `python -m bench.compare --a K=V ... --b K=V ...`.

Starts two stacks of their own on this machine, the same but for the environment variables
given for each side (say `--a MESSAGING_X=1 --b MESSAGING_X=2`), measures pgbench once, then
alternates the same loads between them round after round (A then B, then B then A, ...) so
that the host's drift (2x from day to day here, and more within an hour) falls on both:

- `POST /orders` through the gateway, 16 closed-loop clients: req/s and latency;
- the pipeline at 50 orders/s offered (open loop): placed -> terminal p50/p99, and the CPU
  of all the stack's processes per order that reached a terminal status;
- orders as fast as 32 closed-loop clients place them: the rate at which they reach a
  terminal status;
- idle memory (RSS, PSS) of all processes, once before the loads.

Prints each round and the medians per side, with the rates also per pgbench TPS (the ratio
the targets are in; docs/performance.md). The stacks are stopped and dropped at the end.

Two versions of the code compare the same way: `--b-tree DIR` runs side B from another
checkout (a `git worktree` of the commit to compare, with a `.venv` link to this one's);
the load, its measurement and the report stay this checkout's.
"""

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import django

ORDER = {"method": "POST", "path": "/orders", "body": {"amount": "1.00", "description": "bench"}}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("--a", nargs="*", default=[], metavar="K=V", help="side A's environment")
    parser.add_argument("--b", nargs="*", default=[], metavar="K=V", help="side B's environment")
    parser.add_argument("--a-tree", type=Path, default=None, help="side A's checkout")
    parser.add_argument("--b-tree", type=Path, default=None, help="side B's checkout")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10, help="per measurement")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    from bench.run import Bench
    from tests.stack import REPO_ROOT, start_stack, stop_stack

    sides = {"A": dict(pair.split("=", 1) for pair in args.a)}
    sides["B"] = dict(pair.split("=", 1) for pair in args.b)
    trees = {"A": (args.a_tree or REPO_ROOT).resolve(), "B": (args.b_tree or REPO_ROOT).resolve()}
    folders, stacks = {}, {}
    try:
        for side, env in sides.items():
            folders[side] = Path(tempfile.mkdtemp(prefix=f"compare-{side.lower()}-"))
            stacks[side] = start_stack(
                folders[side],
                trees[side],
                INTERNAL_API_TOKEN=secrets.token_urlsafe(32),
                GATEWAY_RATE_LIMIT_PER_USER="0",
                GATEWAY_RATE_LIMIT_PER_ADDRESS="0",
                **env,
            )
        benches = {side: Bench(stack, args.seconds) for side, stack in stacks.items()}
        for bench in benches.values():
            bench.open_accounts()
        time.sleep(5)
        memory = {side: bench.memory() for side, bench in benches.items()}
        tps = benches["A"].pgbench()["tps"]
        rounds = []
        for number in range(args.rounds):
            order = ["A", "B"] if number % 2 == 0 else ["B", "A"]
            for side in order:
                figures = measure(benches[side], args.seconds)
                rounds.append({"round": number + 1, "side": side, **figures})
                print(f"round {number + 1} {side}: {figures}", flush=True)  # noqa: T201
    finally:
        for side, stack in stacks.items():
            stop_stack(stack)
            shutil.rmtree(folders[side], ignore_errors=True)
    print(report(sides, memory, tps, rounds, trees))  # noqa: T201
    return 0


def measure(bench, seconds: float) -> dict:
    from bench.run import loadgen

    base = {**ORDER, "base_url": bench.stack.gateway_url, "users": bench.users, "key": True}
    post = loadgen("closed", {**base, "seconds": seconds, "concurrency": 16})

    started, before = datetime.now(UTC), bench.cpu()
    placed = loadgen("open", {**base, "seconds": seconds, "rate": 50})
    times = bench.terminal_times(placed["created"])
    cpu = bench.cpu_per_order(started, before)

    fastest = loadgen("closed", {**base, "seconds": seconds, "concurrency": 32})
    terminal = bench.terminal_times(fastest["created"])
    return {
        "post_rate": post["rate"],
        "post_p99_ms": post["latency_ms"]["p99"],
        "post_errors": post["errors"],
        "terminal_p50_ms": times["to_terminal_ms"]["p50"],
        "terminal_p99_ms": times["to_terminal_ms"]["p99"],
        "cpu_ms_per_order": cpu["ms_per_order"],
        "cpu_by_process_ms": {
            name: round(used * 1000 / max(1, cpu["orders_terminal"]), 2)
            for name, used in cpu["per_process_seconds"].items()
        },
        "max_terminal_rate": terminal["terminal_rate"],
        "not_terminal": times["not_terminal"] + terminal["not_terminal"],
    }


def report(sides: dict, memory: dict, tps: float, rounds: list[dict], trees: dict) -> str:
    lines = [f"pgbench: {tps} TPS"]
    for side, env in sides.items():
        lines.append(
            f"{side}: {trees[side]}, {env or 'as configured'};"
            f" idle RSS {memory[side]['total_rss_mib']} MiB,"
            f" PSS {memory[side]['total_pss_mib']} MiB"
        )
    lines.append(
        "| side | POST /orders req/s (per TPS) | POST p99 ms | placed->terminal p50 / p99 ms "
        "at 50/s | CPU ms/order | max terminal/s (per TPS) | not terminal |"
    )
    lines.append("|---|---|---|---|---|---|---|")
    for side in sides:
        mine = [r for r in rounds if r["side"] == side]

        def median(key: str, rows=mine) -> float:
            values = [r[key] for r in rows if r[key] is not None]
            return round(statistics.median(values), 2) if values else float("nan")

        post, fastest = median("post_rate"), median("max_terminal_rate")
        lines.append(
            f"| {side} | {post} ({post / tps:.4f}) | {median('post_p99_ms')} "
            f"| {median('terminal_p50_ms')} / {median('terminal_p99_ms')} "
            f"| {median('cpu_ms_per_order')} | {fastest} ({fastest / tps:.4f}) "
            f"| {sum(r['not_terminal'] for r in mine)} |"
        )
        by_process: dict[str, list[float]] = {}
        for row in mine:
            for name, ms in row["cpu_by_process_ms"].items():
                by_process.setdefault(name, []).append(ms)
        lines.append(
            f"  {side} CPU ms per order by process (median): "
            + ", ".join(f"{n} {statistics.median(v):.2f}" for n, v in sorted(by_process.items()))
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
