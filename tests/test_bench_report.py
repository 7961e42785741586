"""The benchmark's report when figures are missing: a run in which every request failed, or
a measurement that failed as a whole, is shown as n/a with the reason, never a crash; and
the benchmark finds the stack's processes and its internal token as the stack has them."""

import json
from pathlib import Path

import pytest

from bench import messaging_rates, report, resources
from bench.run import internal_token
from tests.stack import Stack

NO_LATENCY = {"p50": None, "p95": None, "p99": None, "max": None}
FORBIDDEN = 'POST /orders: 403 {"detail":"Call this API through the gateway."}'


def http_row(endpoint: str, via: str, concurrency: int, *, failed: bool = False) -> dict:
    if failed:
        return {"endpoint": endpoint, "via": via, "concurrency": concurrency, "requests": 0,
                "errors": {"403": 1234}, "seconds": 5.0, "rate": 0.0, "latency_ms": NO_LATENCY,
                "first_error": FORBIDDEN}  # fmt: skip
    return {"endpoint": endpoint, "via": via, "concurrency": concurrency, "requests": 500,
            "errors": {}, "seconds": 5.0, "rate": 100.0, "first_error": None,
            "latency_ms": {"p50": 10.0, "p95": 20.0, "p99": 30.0, "max": 40.0}}  # fmt: skip


def pipeline_row(offered, *, placed: int = 250) -> dict:
    latency = {"p50": 12.0, "p95": 20.0, "p99": 30.0, "max": 40.0} if placed else NO_LATENCY
    return {"offered": offered, "placed": placed, "placing_rate": placed / 5,
            "http_errors": {} if placed else {"503": 250},
            "http_first_error": None if placed else "POST /orders: 503 unavailable",
            "http_latency_ms": latency, "terminal": placed, "not_terminal": 0,
            "finished": placed, "to_terminal_ms": latency,
            "terminal_rate": placed / 5 if placed else None,
            "cpu_percent": {"orders": 50, "total": 50},
            "cpu_per_order": {"ms_per_order": 10.0 if placed else None,
                              "cpu_seconds": placed / 100, "orders_terminal": placed,
                              "window_seconds": 5.5,
                              "per_process_seconds": {"orders": placed / 100}}}  # fmt: skip


def results(*, direct_fails: bool) -> dict:
    http = [
        http_row(endpoint, via, concurrency, failed=direct_fails and via == "direct")
        for endpoint in ("POST /orders", "GET /orders/{id}", "POST /accounts/deposit")
        for concurrency in (1, 16, 64)
        for via in ("gateway", "direct")
    ]
    memory = {"processes": {"orders": {"processes": 3, "rss_mib": 150.0, "pss_mib": 110.0}},
              "total_rss_mib": 150.0, "total_pss_mib": 110.0}  # fmt: skip
    return {
        "machine": {
            "date": "2026-12-02T00:00:00+00:00",
            "cpu": "cpu",
            "cores": 2,
            "memory_gib": 23.5,
            "python": "3.11.7",
        },
        "seconds_per_measurement": 5,
        "idle_memory": memory,
        "idle_cpu": {"orders": 3, "total": 3},
        "pgbench": {"clients": 8, "seconds": 5, "tps": 4000},
        "http": http,
        "pipeline": [pipeline_row(5), pipeline_row(50), pipeline_row(200), pipeline_row("max")],
        "memory_after_load": memory,
        "messaging": {
            "relay": {"messages": 10, "seconds": 0.002, "rate": 5000.0},
            "drain": {"messages": 10, "seconds": 0.02, "rate": 500.0},
        },
        "live_status": {
            "subscribers": 1000,
            "rate": 50,
            "without": live_row(0),
            "with": live_row(1000),
            "clients": {
                "answered": 1000,
                "connect_seconds": 2.5,
                "events": 1000,
                "ended_early": 0,
                "errors": {},
            },
        },
    }


def live_row(waiting: int) -> dict:
    latency = {"p50": 9.0, "p95": 20.0, "p99": 30.0, "max": 40.0}
    return {"post_latency_ms": latency, "post_errors": {}, "get_latency_ms": latency,
            "get_errors": {}, "gateway_cpu_percent": 10, "gateway_rss_mib": 120.0,
            "gateway_pss_mib": 90.0, "waiting": waiting, "gauge": float(waiting)}  # fmt: skip


def by_name(figures: dict) -> dict[str, dict]:
    return {row["target"]: row for row in report.targets(figures)}


def test_direct_runs_that_all_failed_are_na_with_the_count_and_the_first_error(tmp_path):
    figures = results(direct_fails=True)

    adds = by_name(figures)["gateway's addition at p50 (POST /orders, 16)"]
    assert adds["value"] is None
    assert adds["met"] is None
    assert "POST /orders direct, 16 clients: no successful request" in adds["reason"]
    assert "1234 failed (403: 1234)" in adds["reason"]
    assert FORBIDDEN in adds["reason"]
    # The figures that do not need the direct runs are there.
    assert by_name(figures)["POST /orders via gateway, 16 clients"]["value"] == 100.0

    text = report.markdown(figures)
    target_line = next(line for line in text.splitlines() if "gateway's addition" in line)
    assert "| n/a |" in target_line
    assert "not measured" in target_line
    assert "403: 1234" in target_line
    assert "With one client, the gateway's addition at p50 is n/a (POST /orders direct, 1 c" in text
    assert "| POST /orders | 16 | direct | n/a | n/a | n/a | n/a | 403: 1234 | n/a |" in text
    assert f"first: {FORBIDDEN}" in text
    report.plot(figures, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 0


def test_complete_results_are_judged_as_before():
    figures = results(direct_fails=False)
    judged = by_name(figures)

    assert judged["gateway's addition at p50 (POST /orders, 16)"]["value"] == 0.0
    assert all(row["reason"] is None for row in judged.values())
    text = report.markdown(figures)
    assert "n/a" not in text
    assert "With one client, the gateway adds 0.0 ms at p50 to POST /orders." in text
    assert "| 50/s | 250 | 50.0 | 12.0 | 20.0 | 30.0 | 40.0 | 50.0 | 0 | 50 | 10.0 |" in text


def test_the_cpu_per_order_at_50_per_s_is_reported_and_given_times_pgbench_tps():
    figures = results(direct_fails=False)
    figures["pipeline"][1]["cpu_per_order"]["ms_per_order"] = 21.5

    # 21.5 ms per order at 4000 TPS: one order's CPU is worth 86 pgbench transactions.
    assert report.cpu_per_order(figures) == {
        "offered": 50, "ms_per_order": 21.5, "pgbench_transactions": 86.0, "reason": None,
    }  # fmt: skip
    text = report.markdown(figures)
    assert (
        "CPU ms per order (all processes) at 50/s: **21.5 ms** (times pgbench TPS / 1000: 86.0)"
        in text
    )
    assert "Idle, the stack's processes use 3 % of one core." in text

    figures["pgbench"] = {"error": "RuntimeError: pgbench: not found"}
    assert report.cpu_per_order(figures)["ms_per_order"] == 21.5
    assert report.cpu_per_order(figures)["pgbench_transactions"] is None

    # Results of a bench from before the CPU per order: n/a with the reason, no crash.
    del figures["pipeline"][1]["cpu_per_order"]
    assert report.cpu_per_order(figures)["reason"] == (
        "the pipeline run at 50/s has no CPU figures"
    )
    assert "| 50/s | 250 | 50.0 | 12.0 | 20.0 | 30.0 | 40.0 | 50.0 | 0 | 50 | n/a |" in (
        report.markdown(figures)
    )


def test_failed_measurements_leave_their_reason_and_the_rest_stands(tmp_path):
    figures = results(direct_fails=False)
    figures["pgbench"] = {"error": "RuntimeError: pgbench: not found"}
    figures["messaging"] = {"error": "CalledProcessError: exit status 1 | broker gone"}
    figures["idle_memory"] = {"error": "RuntimeError: supervisorctl status names no process"}
    figures["pipeline"][1] = pipeline_row(50, placed=0)

    judged = by_name(figures)
    assert judged["relay, published and confirmed"]["reason"] == (
        "messaging failed: CalledProcessError: exit status 1 | broker gone"
    )
    assert (
        "supervisorctl status names no process"
        in (judged["idle memory of all processes (RSS sum)"]["reason"])
    )
    p50 = judged["placed -> terminal at 50/s, p50"]
    assert p50["value"] is None
    assert "503: 250" in p50["reason"]
    assert judged["orders reaching a terminal status (max)"]["value"] == 50.0

    text = report.markdown(figures)
    assert "Reference: n/a (pgbench failed: RuntimeError: pgbench: not found)" in text
    assert "broker gone" in text
    assert "\\| broker gone" in text  # a | in a reason does not split a table cell
    assert "| 50/s | 0 | 0.0 | n/a | n/a | n/a | n/a | n/a | 0 | 50 | n/a |" in text
    assert "CPU ms per order (all processes) at 50/s: n/a (at 50/s no order reached" in text
    assert "503: 250" in report.cpu_per_order(figures)["reason"]
    report.plot(figures, tmp_path / "plot.png")


def test_no_figures_at_all_still_make_a_report(tmp_path):
    figures = {
        "machine": results(direct_fails=False)["machine"],
        "seconds_per_measurement": 5,
        **{
            name: {"error": f"{name} broke"}
            for name in (
                "idle_memory",
                "pgbench",
                "http",
                "pipeline",
                "memory_after_load",
                "messaging",
                "live_status",
            )
        },
    }

    assert all(row["value"] is None and row["reason"] for row in report.targets(figures))
    text = report.markdown(figures)
    assert "n/a: http failed: http broke" in text
    assert "n/a: pipeline failed: pipeline broke" in text
    assert "n/a: live_status failed: live_status broke" in text
    report.plot(figures, tmp_path / "plot.png")


def test_the_live_status_figure_has_a_row_without_and_one_with_the_waiting_clients():
    text = report.markdown(results(direct_fails=False))
    assert "| 0 | 9.0 | 30.0 | 9.0 | 30.0 | 10 | 120.0 | 0 |" in text
    assert "| 1000 | 9.0 | 30.0 | 9.0 | 30.0 | 10 | 120.0 | 0 |" in text
    assert "1000 streams asked for, 1000 answered (in 2.5 s), 0 ended early" in text


def test_the_stack_processes_are_read_from_supervisorctl_status():
    status = (
        "flower                           RUNNING   pid 1, uptime 0:01:02\n"
        "orders                           STOPPED   Dec 02 09:30 AM\n"
        "orders-worker                    RUNNING   pid 999999999, uptime 0:00:05\n"
    )
    # pid 1 exists; an unknown pid is a process gone since (not counted).
    assert resources.leaders(status) == {"flower": 1}


def stack_with(tmp_path: Path, env: dict[str, str]) -> Stack:
    (tmp_path / ".env").write_text("DJANGO_SECRET_KEY=x\nINTERNAL_API_TOKEN=from-the-file\n")
    return Stack(env={"ENV_FILE": str(tmp_path / ".env"), **env}, ports={}, databases={})


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "from-the-file"),
        # As manage_all.sh reads it: the environment (here an outer .env's token) wins.
        ({"INTERNAL_API_TOKEN": "from-the-environment"}, "from-the-environment"),
    ],
)
def test_the_internal_token_is_the_one_the_stack_runs_with(tmp_path, env, expected):
    assert internal_token(stack_with(tmp_path, env)) == expected


def test_a_failed_drain_leaves_the_relay_rate():
    figures = results(direct_fails=False)
    figures["messaging"]["drain"] = {"error": "JSONDecodeError: Extra data"}

    assert by_name(figures)["relay, published and confirmed"]["value"] == 5000.0
    text = report.markdown(figures)
    assert "- relay: 10 outbox rows published and confirmed" in text
    assert "- drain: n/a (drain failed: JSONDecodeError: Extra data)" in text


def test_the_messaging_result_is_found_among_log_lines():
    result = {"messages": 10, "seconds": 0.5, "rate": 20.0}
    output = (
        "2026-12-02T09:45:00.000Z INFO [1] common.messaging.drain: drained 10\n"
        f"\n{messaging_rates.RESULT_PREFIX}{json.dumps(result)}\n"
        '{"level": "INFO", "message": "a JSON log line after it"}\n'
    )
    assert messaging_rates.result_of(output) == result
    with pytest.raises(RuntimeError, match="no 'bench-result: ' line"):
        messaging_rates.result_of("2026-12-02T09:45:00.000Z INFO [1] x: nothing else\n")
