"""The benchmark's arithmetic: percentiles are measured values (nearest rank), each target
is judged in its own direction with the gap stated, and the CPU per order is every
process's CPU (its children's included) over the orders that became terminal."""

import subprocess
import sys

from bench import resources
from bench.report import targets
from bench.stats import percentile, percentiles


def test_nearest_rank_percentiles_are_values_that_were_measured():
    values = [float(n) for n in range(1, 101)]  # 1..100
    assert percentiles(values) == {"p50": 50.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
    assert percentile([7.0, 1.0, 3.0], 0.5) == 3.0
    assert percentile([5.0], 0.99) == 5.0
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None, "max": None}


def figures(*, p50: float, relay: float, rss: float) -> dict:
    http = [
        {"endpoint": "POST /orders", "via": via, "concurrency": 16, "rate": rate,
         "latency_ms": {"p50": latency, "p99": 90.0}}
        for via, rate, latency in (("gateway", 600.0, 12.0), ("direct", 700.0, 10.0))
    ]  # fmt: skip
    pipeline = [
        {"offered": 50, "terminal_rate": 50.0, "to_terminal_ms": {"p50": p50, "p99": 200.0}},
        {"offered": "max", "terminal_rate": 310.0, "to_terminal_ms": {"p50": 90, "p99": 400}},
    ]
    return {
        "http": http,
        "pipeline": pipeline,
        "messaging": {"relay": {"rate": relay}},
        "idle_memory": {"total_rss_mib": rss},
    }


def test_targets_are_judged_each_in_its_direction_with_the_gap():
    judged = {row["target"]: row for row in targets(figures(p50=100.0, relay=2500, rss=900))}

    assert judged["placed -> terminal at 50/s, p50"]["met"] is False
    assert judged["placed -> terminal at 50/s, p50"]["gap"] == "2.0x over"
    assert judged["placed -> terminal at 50/s, p99"]["met"] is True
    assert judged["relay, published and confirmed"]["gap"] == "2.0x short"
    assert judged["orders reaching a terminal status (max)"]["met"] is True
    assert judged["gateway's addition at p50 (POST /orders, 16)"]["value"] == 2.0
    assert judged["gateway's addition at p50 (POST /orders, 16)"]["met"] is True
    assert judged["idle memory of all processes (RSS sum)"]["met"] is True
    assert all(row["met"] for row in targets(figures(p50=40.0, relay=6000, rss=1000)))


def test_a_small_miss_is_stated_as_a_percentage():
    judged = {row["target"]: row for row in targets(figures(p50=40.0, relay=4900, rss=1040))}

    assert judged["idle memory of all processes (RSS sum)"]["gap"] == "1.6 % over"
    assert judged["relay, published and confirmed"]["gap"] == "2.0 % short"


def test_cpu_used_between_two_snapshots_counts_a_restarted_process_from_its_start():
    before = {"orders": (100, 10.0), "payments-worker": (200, 4.0), "flower": (300, 1.0)}
    after = {
        "orders": (100, 12.5),  # the same process: 2.5 s more
        "payments-worker": (201, 0.75),  # restarted meanwhile: all of the new one's CPU
        "gateway": (400, 0.5),  # started meanwhile
    }  # flower stopped meanwhile: its CPU since `before` went with it

    assert resources.cpu_used(before, after) == {
        "orders": 2.5,
        "payments-worker": 0.75,
        "gateway": 0.5,
    }


def test_cpu_ms_per_order_is_all_the_processes_cpu_over_the_terminal_orders():
    used = {"orders": 3.0, "payments-worker": 2.0, "gateway": 1.0, "flower": 0.25}

    assert resources.cpu_ms_per_order(used, 500) == 12.5  # 6.25 CPU s / 500 orders
    assert resources.cpu_ms_per_order(used, 0) is None
    assert resources.cpu_ms_per_order({}, 10) == 0.0


BURN = "import time\nend = time.process_time() + {0}\nwhile time.process_time() < end: pass\n"


def test_cpu_seconds_counts_the_group_and_the_children_its_leader_reaped():
    # A group leader (as supervisord starts each program) that burns 0.3 s of CPU itself,
    # has a child burn 0.3 s and reaps it, then waits to be read.
    leader_code = (
        "import subprocess, sys, time\n"
        f"exec({BURN.format(0.3)!r})\n"
        f"subprocess.run([sys.executable, '-c', {BURN.format(0.3)!r}], check=True)\n"
        "print('done', flush=True)\n"
        "time.sleep(30)\n"
    )
    leader = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", leader_code], stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert leader.stdout.readline().strip() == "done"
        assert 0.6 <= resources.cpu_seconds(leader.pid) < 1.5
    finally:
        leader.kill()
        leader.wait()
