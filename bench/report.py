"""The figures as the targets see them, as markdown, and as a plot."""

from pathlib import Path

# (name, unit, the figure from the results, target, True if higher is better)
TARGETS = [
    ("placed -> terminal at 50/s, p50", "ms", lambda f: _pipeline(f, 50)["p50"], 50, False),
    ("placed -> terminal at 50/s, p99", "ms", lambda f: _pipeline(f, 50)["p99"], 250, False),
    ("orders reaching a terminal status (max)", "/s", lambda f: _max_rate(f), 300, True),
    ("POST /orders via gateway, 16 clients", "req/s", lambda f: _orders_16(f)["rate"], 500, True),
    ("POST /orders via gateway, 16 clients, p99", "ms", lambda f: _orders_16(f)["p99"], 100, False),
    ("gateway's addition at p50 (POST /orders, 16)", "ms", lambda f: _gateway_adds(f), 3, False),
    ("relay, published and confirmed", "msg/s", lambda f: _messaging(f, "relay"), 5000, True),
    ("idle memory of all processes (RSS sum)", "MiB", lambda f: _idle_rss(f), 1024, False),
]


def _pipeline(figures: dict, offered) -> dict:
    row = next(row for row in figures["pipeline"] if row["offered"] == offered)
    return row["to_terminal_ms"]


def _orders_16(figures: dict) -> dict:
    row = _http(figures, "gateway")
    return {"rate": row["rate"], "p99": row["latency_ms"]["p99"]}


def _messaging(figures: dict, what: str) -> float:
    return figures["messaging"][what]["rate"]


def _idle_rss(figures: dict) -> float:
    return figures["idle_memory"]["total_rss_mib"]


def _max_rate(figures: dict) -> float:
    return max(row["terminal_rate"] or 0 for row in figures["pipeline"])


def _http(figures: dict, via: str, endpoint: str = "POST /orders", concurrency: int = 16) -> dict:
    return next(
        row
        for row in figures["http"]
        if (row["endpoint"], row["via"], row["concurrency"]) == (endpoint, via, concurrency)
    )


def _gateway_adds(figures: dict, concurrency: int = 16) -> float:
    gateway = _http(figures, "gateway", concurrency=concurrency)
    direct = _http(figures, "direct", concurrency=concurrency)
    return round(gateway["latency_ms"]["p50"] - direct["latency_ms"]["p50"], 2)


def _gap(larger: float, smaller: float, word: str) -> str:
    """How far off: a factor, or a percentage when it is under 10 %."""
    ratio = larger / smaller
    return f"{(ratio - 1) * 100:.1f} % {word}" if ratio < 1.1 else f"{ratio:.1f}x {word}"


def targets(figures: dict) -> list[dict]:
    rows = []
    for name, unit, figure, target, higher_is_better in TARGETS:
        value = figure(figures)
        met = value is not None and (value >= target if higher_is_better else value <= target)
        if value is None or met:
            gap = ""
        elif higher_is_better:
            gap = _gap(target, value, "short") if value else "nothing measured"
        else:
            gap = _gap(value, target, "over")
        rows.append(
            {"target": name, "unit": unit, "value": value, "wanted": target, "met": met, "gap": gap}
        )
    return rows


def markdown(figures: dict) -> str:
    m = figures["machine"]
    tps = figures["pgbench"]["tps"]
    lines = [
        f"# Benchmark, {m['date']}",
        "",
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; Python {m['python']}; "
        f"everything on this machine; {figures['seconds_per_measurement']:g} s per measurement.",
        "",
        f"Reference: pgbench simple-update, {figures['pgbench']['clients']} clients: "
        f"**{tps} TPS**.",
        "",
        "## Targets",
        "",
        "| target | measured | wanted | |",
        "|---|---|---|---|",
    ]
    for row in targets(figures):
        verdict = "met" if row["met"] else f"**missed** ({row['gap']})"
        lines.append(
            f"| {row['target']} | {row['value']} {row['unit']} | "
            f"{'>=' if row['unit'] in ('/s', 'req/s', 'msg/s') else '<='} {row['wanted']} | "
            f"{verdict} |"
        )
    lines += [
        "",
        # At 16 clients the machine is saturated, and the difference of two runs' medians
        # is mostly queueing; one client shows the gateway's own cost.
        f"With one client, the gateway adds {_gateway_adds(figures, concurrency=1)} ms at p50 "
        "to POST /orders.",
        "",
        "## HTTP (closed loop: each client sends its next request when answered)",
        "",
        *_header("endpoint", "clients", "via", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors",
                 "req/s per pgbench TPS"),
    ]  # fmt: skip
    for row in figures["http"]:
        lat = row["latency_ms"]
        lines.append(
            f"| {row['endpoint']} | {row['concurrency']} | {row['via']} | {row['rate']} | "
            f"{lat['p50']} | {lat['p95']} | {lat['p99']} | {_errors(row['errors'])} | "
            f"{row['rate'] / tps:.3f} |"
        )
    lines += [
        "",
        "## Pipeline: the order's 201 to its terminal status (created_at -> updated_at)",
        "",
        *_header("offered", "placed", "placing req/s", "p50 ms", "p95 ms", "p99 ms", "max ms",
                 "terminal/s", "not terminal", "CPU % (of one core)"),
    ]  # fmt: skip
    for row in figures["pipeline"]:
        lat = row["to_terminal_ms"]
        offered = f"{row['offered']}/s" if row["offered"] != "max" else "max"
        lines.append(
            f"| {offered} | {row['placed']} | {row['placing_rate']} | {lat['p50']} | "
            f"{lat['p95']} | {lat['p99']} | {lat['max']} | {row['terminal_rate']} | "
            f"{row['not_terminal']} | {row['cpu_percent']['total']} |"
        )
    relay, drain = figures["messaging"]["relay"], figures["messaging"]["drain"]
    lines += [
        "",
        "## Messaging (one process, Orders' worker stopped)",
        "",
        f"- relay: {relay['messages']} outbox rows published and confirmed in "
        f"{relay['seconds']} s: **{relay['rate']} msg/s** ({relay['rate'] / tps:.2f}x pgbench TPS)",
        f"- drain: {drain['messages']} payment results handled (orders FINISHED) in "
        f"{drain['seconds']} s: **{drain['rate']} msg/s** ({drain['rate'] / tps:.2f}x pgbench TPS)",
        "",
        "## Memory (MiB; RSS counts pages shared by forked processes in each, PSS shares them)",
        "",
        *_header("process", "processes", "idle RSS", "idle PSS", "after load RSS",
                 "after load PSS", "CPU % at max load"),
    ]  # fmt: skip
    idle, after = figures["idle_memory"], figures["memory_after_load"]
    max_cpu = figures["pipeline"][-1]["cpu_percent"]
    for name, mem in idle["processes"].items():
        later = after["processes"].get(name, {})
        lines.append(
            f"| {name} | {mem['processes']} | {mem['rss_mib']} | {mem['pss_mib']} | "
            f"{later.get('rss_mib')} | {later.get('pss_mib')} | {max_cpu.get(name)} |"
        )
    lines.append(
        f"| **total** | | {idle['total_rss_mib']} | {idle['total_pss_mib']} | "
        f"{after['total_rss_mib']} | {after['total_pss_mib']} | {max_cpu['total']} |"
    )
    return "\n".join(lines) + "\n"


def _header(*columns: str) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def _errors(errors: dict) -> str:
    return ", ".join(f"{k}: {v}" for k, v in errors.items()) or "0"


def plot(figures: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no screen
    import matplotlib.pyplot as plt

    figure, (pipeline, http) = plt.subplots(1, 2, figsize=(12, 4.5))
    rows = figures["pipeline"]
    # The offered loads in order, each labelled with the rate the system took.
    offered = [
        f"{row['offered']}/s offered\n{row['placing_rate']:g}/s placed"
        if row["offered"] != "max"
        else f"as fast as it goes\n{row['placing_rate']:g}/s placed"
        for row in rows
    ]
    for name in ("p50", "p95", "p99"):
        latencies = [row["to_terminal_ms"][name] for row in rows]
        pipeline.plot(offered, latencies, marker="o", label=name)
    pipeline.set(title="Order placed -> terminal status", xlabel="offered load", ylabel="ms")
    for via, style in (("gateway", "-"), ("direct", "--")):
        http_rows = [
            r for r in figures["http"] if r["endpoint"] == "POST /orders" and r["via"] == via
        ]
        for name in ("p50", "p99"):
            http.plot(
                [r["rate"] for r in http_rows],
                [r["latency_ms"][name] for r in http_rows],
                style,
                marker="o",
                label=f"{name} {via}",
            )
    http.set(
        title="POST /orders (1, 16, 64 clients)",
        xlabel="requests per second",
        ylabel="ms",
    )
    for axes in (pipeline, http):
        axes.grid(True, alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
