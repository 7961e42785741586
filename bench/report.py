"""The figures as the targets see them, as markdown, and as a plot.

A figure the results do not hold (a measurement that failed, a run in which every request
failed) is shown as "n/a" with the reason: how many requests failed and the first error,
or the measurement's own error. The report never fails for want of a figure."""

from pathlib import Path


class Unavailable(Exception):
    """A figure the results do not hold; the message says why."""


# (name, unit, the figure from the results, target, True if higher is better)
TARGETS = [
    ("placed -> terminal at 50/s, p50", "ms", lambda f: _to_terminal(f, 50, "p50"), 50, False),
    ("placed -> terminal at 50/s, p99", "ms", lambda f: _to_terminal(f, 50, "p99"), 250, False),
    ("orders reaching a terminal status (max)", "/s", lambda f: _max_rate(f), 300, True),
    ("POST /orders via gateway, 16 clients", "req/s", lambda f: _orders_16(f)["rate"], 500, True),
    ("POST /orders via gateway, 16 clients, p99", "ms", lambda f: _orders_16(f)["p99"], 100, False),
    ("gateway's addition at p50 (POST /orders, 16)", "ms", lambda f: _gateway_adds(f), 3, False),
    ("relay, published and confirmed", "msg/s", lambda f: _messaging(f, "relay"), 5000, True),
    ("idle memory of all processes (RSS sum)", "MiB", lambda f: _idle_rss(f), 1024, False),
]


def _section(figures: dict, name: str):
    """One measurement's results, or Unavailable with the reason it has none."""
    section = figures.get(name)
    if section is None:
        raise Unavailable(f"{name}: not measured")
    if isinstance(section, dict) and "error" in section:
        raise Unavailable(f"{name} failed: {section['error']}")
    return section


def _failures(errors: dict | None, first_error: str | None) -> str:
    """ "; 1234 failed (403: 1234); first: POST /orders: 403 {...}", or ""."""
    failed = sum((errors or {}).values())
    if not failed:
        return ""
    words = f"; {failed} failed ({_errors(errors)})"
    return f"{words}; first: {first_error}" if first_error else words


def _pipeline(figures: dict, offered) -> dict:
    row = next((row for row in _section(figures, "pipeline") if row["offered"] == offered), None)
    if row is None:
        raise Unavailable(f"no pipeline run at {offered}/s")
    return row


def _to_terminal(figures: dict, offered, name: str) -> float:
    row = _pipeline(figures, offered)
    value = row["to_terminal_ms"].get(name)
    if value is None:
        raise Unavailable(
            f"at {offered}/s no order reached a terminal status ({row.get('placed', 0)} placed, "
            f"{row.get('not_terminal', 0)} not terminal"
            f"{_failures(row.get('http_errors'), row.get('http_first_error'))})"
        )
    return value


def _orders_16(figures: dict) -> dict:
    row = _http(figures, "gateway")
    return {"rate": _rate(row), "p99": _latency(row, "p99")}


def _messaging(figures: dict, what: str) -> float:
    result = _section(figures, "messaging").get(what)
    if not result:
        raise Unavailable(f"{what}: not measured")
    if "error" in result:
        raise Unavailable(f"{what} failed: {result['error']}")
    return result["rate"]


def _idle_rss(figures: dict) -> float:
    return _section(figures, "idle_memory")["total_rss_mib"]


def _max_rate(figures: dict) -> float:
    rates = [row["terminal_rate"] for row in _section(figures, "pipeline")]
    if not any(rate is not None for rate in rates):
        raise Unavailable("no pipeline run had an order reach a terminal status")
    return max(rate for rate in rates if rate is not None)


def _http(figures: dict, via: str, endpoint: str = "POST /orders", concurrency: int = 16) -> dict:
    key = (endpoint, via, concurrency)
    row = next(
        (row for row in _section(figures, "http") if _key(row) == key),
        None,
    )
    if row is None:
        raise Unavailable(f"{_name(*key)}: not measured")
    return row


def _key(row: dict) -> tuple:
    return row["endpoint"], row["via"], row["concurrency"]


def _name(endpoint: str, via: str, concurrency: int) -> str:
    return f"{endpoint} {via}, {concurrency} client{'s' if concurrency != 1 else ''}"


def _no_success(row: dict) -> Unavailable:
    return Unavailable(
        f"{_name(*_key(row))}: no successful request"
        f"{_failures(row.get('errors'), row.get('first_error'))}"
    )


def _latency(row: dict, name: str) -> float:
    value = row["latency_ms"].get(name)
    if value is None:
        raise _no_success(row)
    return value


def _rate(row: dict) -> float:
    if row.get("requests") == 0:
        raise _no_success(row)
    return row["rate"]


def _gateway_adds(figures: dict, concurrency: int = 16) -> float:
    gateway = _http(figures, "gateway", concurrency=concurrency)
    direct = _http(figures, "direct", concurrency=concurrency)
    return round(_latency(gateway, "p50") - _latency(direct, "p50"), 2)


def _gap(larger: float, smaller: float, word: str) -> str:
    """How far off: a factor, or a percentage when it is under 10 %."""
    ratio = larger / smaller
    return f"{(ratio - 1) * 100:.1f} % {word}" if ratio < 1.1 else f"{ratio:.1f}x {word}"


CPU_PER_ORDER_AT = 50  # the offered rate (orders/s) the CPU per order is given for


def cpu_per_order(figures: dict, offered=CPU_PER_ORDER_AT) -> dict:
    """CPU ms per order (all the stack's processes) in the pipeline run at `offered`/s, and
    the same times pgbench's TPS / 1000 (how many reference transactions one order's CPU
    is worth: a host twice as slow doubles the ms and halves the TPS, not their product);
    value None and the reason when the results do not hold it."""
    figure = {"offered": offered, "ms_per_order": None, "pgbench_transactions": None,
              "reason": None}  # fmt: skip
    try:
        row = _pipeline(figures, offered)
        cpu = row.get("cpu_per_order")
        if not cpu:
            raise Unavailable(f"the pipeline run at {offered}/s has no CPU figures")
        if cpu["ms_per_order"] is None:
            raise Unavailable(
                f"at {offered}/s no order reached a terminal status ({cpu['cpu_seconds']} CPU s"
                f"{_failures(row.get('http_errors'), row.get('http_first_error'))})"
            )
    except Unavailable as exc:
        return {**figure, "reason": str(exc)}
    figure["ms_per_order"] = cpu["ms_per_order"]
    try:
        tps = _section(figures, "pgbench")["tps"]
        figure["pgbench_transactions"] = round(cpu["ms_per_order"] * tps / 1000, 1)
    except Unavailable:
        pass
    return figure


def targets(figures: dict) -> list[dict]:
    """Each target: the value, whether it is met and by how far not; a figure the results do
    not hold has value None, met None and the reason."""
    rows = []
    for name, unit, figure, target, higher_is_better in TARGETS:
        try:
            value, reason = figure(figures), None
        except Unavailable as exc:
            value, reason = None, str(exc)
        if value is None:
            met, gap = None, ""
        else:
            met = value >= target if higher_is_better else value <= target
            if met:
                gap = ""
            elif higher_is_better:
                gap = _gap(target, value, "short") if value else "nothing measured"
            else:
                gap = _gap(value, target, "over")
        rows.append(
            {"target": name, "unit": unit, "value": value, "wanted": target, "met": met,
             "gap": gap, "reason": reason}
        )  # fmt: skip
    return rows


def markdown(figures: dict) -> str:
    m = figures["machine"]
    try:
        pgbench = _section(figures, "pgbench")
        tps = pgbench["tps"]
        reference = f"pgbench simple-update, {pgbench['clients']} clients: **{tps} TPS**."
    except Unavailable as exc:
        tps, reference = None, f"n/a ({_cell(str(exc))}); no ratios to it below."
    lines = [
        f"# Benchmark, {m['date']}",
        "",
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; Python {m['python']}; "
        f"everything on this machine; {figures['seconds_per_measurement']:g} s per measurement.",
        "",
        f"Reference: {reference}",
        "",
        "## Targets",
        "",
        "| target | measured | wanted | |",
        "|---|---|---|---|",
    ]
    for row in targets(figures):
        if row["value"] is None:
            measured, verdict = "n/a", f"not measured: {_cell(row['reason'])}"
        else:
            measured = f"{row['value']} {row['unit']}"
            verdict = "met" if row["met"] else f"**missed** ({row['gap']})"
        lines.append(
            f"| {row['target']} | {measured} | "
            f"{'>=' if row['unit'] in ('/s', 'req/s', 'msg/s') else '<='} {row['wanted']} | "
            f"{verdict} |"
        )
    # At 16 clients the machine is saturated, and the difference of two runs' medians is
    # mostly queueing; one client shows the gateway's own cost.
    try:
        one_client = f"the gateway adds {_gateway_adds(figures, concurrency=1)} ms at p50"
    except Unavailable as exc:
        one_client = f"the gateway's addition at p50 is n/a ({exc})"
    lines += ["", f"With one client, {one_client} to POST /orders."]
    cpu = cpu_per_order(figures)
    if cpu["ms_per_order"] is None:
        cpu_line = f"n/a ({_cell(cpu['reason'])})"
    else:
        cpu_line = f"**{cpu['ms_per_order']} ms**"
        if cpu["pgbench_transactions"] is not None:
            cpu_line += f" (times pgbench TPS / 1000: {cpu['pgbench_transactions']})"
    lines += [
        "",
        f"CPU ms per order (all processes) at {cpu['offered']}/s: {cpu_line}; the CPU of every "
        "process of the stack from the first order placed until the last is terminal, per "
        "order that became terminal meanwhile (PostgreSQL, RabbitMQ and the load generator "
        "not counted).",
    ]
    try:
        idle = _section(figures, "idle_cpu")
        lines.append(f"Idle, the stack's processes use {idle['total']} % of one core.")
    except Unavailable:
        pass
    lines += _http_lines(figures, tps)
    lines += _pipeline_lines(figures)
    lines += _messaging_lines(figures, tps)
    lines += _memory_lines(figures)
    lines += _live_status_lines(figures)
    return "\n".join(lines) + "\n"


def _http_lines(figures: dict, tps: float | None) -> list[str]:
    lines = ["", "## HTTP (closed loop: each client sends its next request when answered)", ""]
    try:
        rows = _section(figures, "http")
    except Unavailable as exc:
        return [*lines, f"n/a: {exc}"]
    lines += _header("endpoint", "clients", "via", "req/s", "p50 ms", "p95 ms", "p99 ms",
                     "errors", "req/s per pgbench TPS")  # fmt: skip
    failed = []
    for row in rows:
        lat = row["latency_ms"]
        answered = row["requests"] > 0
        lines.append(
            f"| {row['endpoint']} | {row['concurrency']} | {row['via']} | "
            f"{row['rate'] if answered else 'n/a'} | {_n(lat['p50'])} | {_n(lat['p95'])} | "
            f"{_n(lat['p99'])} | {_errors(row['errors'])} | "
            f"{_ratio(row['rate'], tps, '.3f') if answered else 'n/a'} |"
        )
        if row["errors"]:
            failed.append(
                f"- {_name(*_key(row))}: {row['requests']} answered"
                f"{_failures(row['errors'], row.get('first_error'))}"
            )
    if failed:
        lines += ["", "Runs with failed requests (a failed request is not in the figures):", ""]
        lines += failed
    return lines


def _pipeline_lines(figures: dict) -> list[str]:
    lines = ["", "## Pipeline: the order's 201 to its terminal status (created_at -> updated_at)",
             ""]  # fmt: skip
    try:
        rows = _section(figures, "pipeline")
    except Unavailable as exc:
        return [*lines, f"n/a: {exc}"]
    lines += _header("offered", "placed", "placing req/s", "p50 ms", "p95 ms", "p99 ms", "max ms",
                     "terminal/s", "not terminal", "CPU % (of one core)",
                     "CPU ms per order")  # fmt: skip
    failed = []
    for row in rows:
        lat = row["to_terminal_ms"]
        offered = f"{row['offered']}/s" if row["offered"] != "max" else "max"
        lines.append(
            f"| {offered} | {row['placed']} | {row['placing_rate']} | {_n(lat['p50'])} | "
            f"{_n(lat['p95'])} | {_n(lat['p99'])} | {_n(lat['max'])} | "
            f"{_n(row['terminal_rate'])} | {row['not_terminal']} | "
            f"{_n(row['cpu_percent'].get('total'))} | "
            f"{_n((row.get('cpu_per_order') or {}).get('ms_per_order'))} |"
        )
        if row.get("http_errors"):
            failed.append(
                f"- {offered}: {row['placed']} placed"
                f"{_failures(row['http_errors'], row.get('http_first_error'))}"
            )
    if failed:
        lines += ["", "Runs with failed requests (orders not placed):", "", *failed]
    return lines


def _messaging_lines(figures: dict, tps: float | None) -> list[str]:
    lines = ["", "## Messaging (one process, Orders' worker stopped)", ""]
    try:
        messaging = _section(figures, "messaging")
    except Unavailable as exc:
        return [*lines, f"n/a: {exc}"]
    for what, words in (
        ("relay", "outbox rows published and confirmed"),
        ("drain", "payment results handled (orders FINISHED)"),
    ):
        try:
            _messaging(figures, what)
        except Unavailable as exc:
            lines.append(f"- {what}: n/a ({exc})")
            continue
        result = messaging[what]
        lines.append(
            f"- {what}: {result['messages']} {words} in {result['seconds']} s: "
            f"**{result['rate']} msg/s** ({_ratio(result['rate'], tps, '.2f')}x pgbench TPS)"
        )
    return lines


def _memory_lines(figures: dict) -> list[str]:
    lines = ["", "## Memory (MiB; RSS counts pages shared by forked processes in each, PSS "
             "shares them)", ""]  # fmt: skip
    sections, reasons = {}, []
    for name in ("idle_memory", "memory_after_load"):
        try:
            sections[name] = _section(figures, name)
        except Unavailable as exc:
            sections[name] = {"processes": {}}
            reasons.append(str(exc))
    try:
        max_cpu = _section(figures, "pipeline")[-1]["cpu_percent"]
    except (Unavailable, IndexError) as exc:
        max_cpu = {}
        reasons.append(f"CPU at max load: {exc or 'no pipeline run'}")
    idle, after = sections["idle_memory"], sections["memory_after_load"]
    if not idle["processes"] and not after["processes"]:
        return [*lines, f"n/a: {'; '.join(reasons)}"]
    lines += _header("process", "processes", "idle RSS", "idle PSS", "after load RSS",
                     "after load PSS", "CPU % at max load")  # fmt: skip
    for name in dict.fromkeys([*idle["processes"], *after["processes"]]):
        mem, later = idle["processes"].get(name, {}), after["processes"].get(name, {})
        lines.append(
            f"| {name} | {_n(mem.get('processes', later.get('processes')))} | "
            f"{_n(mem.get('rss_mib'))} | {_n(mem.get('pss_mib'))} | {_n(later.get('rss_mib'))} | "
            f"{_n(later.get('pss_mib'))} | {_n(max_cpu.get(name))} |"
        )
    lines.append(
        f"| **total** | | {_n(idle.get('total_rss_mib'))} | {_n(idle.get('total_pss_mib'))} | "
        f"{_n(after.get('total_rss_mib'))} | {_n(after.get('total_pss_mib'))} | "
        f"{_n(max_cpu.get('total'))} |"
    )
    if reasons:
        lines += ["", *(f"n/a: {reason}" for reason in reasons)]
    return lines


def _live_status_lines(figures: dict) -> list[str]:
    lines = ["", "## Live status: waiting clients on event streams (bench/live_status.py)", ""]
    try:
        live = _section(figures, "live_status")
    except Unavailable as exc:
        return [*lines, f"n/a: {exc}"]
    lines += _header("waiting clients", "POST /orders p50 ms", "p99 ms", "GET /orders/{id} p50 ms",
                     "p99 ms", "gateway CPU %", "gateway RSS MiB", "failed")  # fmt: skip
    for name in ("without", "with"):
        row = live.get(name)
        if row is None:
            lines.append(f"| {name}: n/a | | | | | | | |")
            continue
        post, get = row["post_latency_ms"] or {}, row["get_latency_ms"] or {}
        failed = sum((row.get("post_errors") or {}).values()) + sum(
            (row.get("get_errors") or {}).values()
        )
        lines.append(
            f"| {row.get('waiting', 0)} | {_n(post.get('p50'))} | {_n(post.get('p99'))} | "
            f"{_n(get.get('p50'))} | {_n(get.get('p99'))} | {_n(row['gateway_cpu_percent'])} | "
            f"{_n(row['gateway_rss_mib'])} | {failed} |"
        )
    clients = live.get("clients") or {}
    lines += ["", f"POST /orders at {live['rate']}/s (open loop) while GET /orders/{{id}} is read "
              f"in a closed loop; {live['subscribers']} streams asked for, "
              f"{_n(clients.get('answered'))} answered (in {_n(clients.get('connect_seconds'))} "
              f"s), {_n(clients.get('ended_early'))} ended early, errors: "
              f"{_errors(clients.get('errors'))}."]  # fmt: skip
    return lines


def _header(*columns: str) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def _errors(errors: dict | None) -> str:
    return ", ".join(f"{k}: {v}" for k, v in (errors or {}).items()) or "0"


def _n(value) -> str:
    return "n/a" if value is None else str(value)


def _ratio(value: float, tps: float | None, spec: str) -> str:
    return format(value / tps, spec) if tps else "n/a"


def _cell(text: str) -> str:
    """Text safe in a markdown table cell: one line, no column separator."""
    return " ".join(text.split()).replace("|", "\\|")


def plot(figures: dict, path: Path) -> None:
    """The pipeline's percentiles against the offered load, and POST /orders latency against
    throughput; a measurement the results do not hold leaves its panel saying why."""
    import matplotlib

    matplotlib.use("Agg")  # no screen
    import matplotlib.pyplot as plt

    figure, (pipeline, http) = plt.subplots(1, 2, figsize=(12, 4.5))
    pipeline.set(title="Order placed -> terminal status", xlabel="offered load", ylabel="ms")
    http.set(title="POST /orders (1, 16, 64 clients)", xlabel="requests per second", ylabel="ms")
    try:
        rows = _section(figures, "pipeline")
    except Unavailable as exc:
        _say_why(pipeline, exc)
    else:
        # The offered loads in order, each labelled with the rate the system took.
        offered = [
            f"{row['offered']}/s offered\n{row['placing_rate']:g}/s placed"
            if row["offered"] != "max"
            else f"as fast as it goes\n{row['placing_rate']:g}/s placed"
            for row in rows
        ]
        for name in ("p50", "p95", "p99"):
            latencies = [_nan(row["to_terminal_ms"][name]) for row in rows]
            pipeline.plot(offered, latencies, marker="o", label=name)
        pipeline.legend()
    try:
        rows = _section(figures, "http")
    except Unavailable as exc:
        _say_why(http, exc)
    else:
        for via, style in (("gateway", "-"), ("direct", "--")):
            # A run without an answered request has no point to plot.
            http_rows = [
                r
                for r in rows
                if r["endpoint"] == "POST /orders" and r["via"] == via and r["requests"]
            ]
            for name in ("p50", "p99"):
                http.plot(
                    [r["rate"] for r in http_rows],
                    [_nan(r["latency_ms"][name]) for r in http_rows],
                    style,
                    marker="o",
                    label=f"{name} {via}",
                )
        http.legend()
    for axes in (pipeline, http):
        axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value


def _say_why(axes, why: Exception) -> None:
    axes.text(0.5, 0.5, f"n/a: {str(why)[:80]}", ha="center", va="center", wrap=True,
              transform=axes.transAxes)  # fmt: skip
