"""A one-screen summary of the running stack from its Prometheus metrics, for people without
Grafana: `./manage_all.sh status` prints it after the process table.

It scrapes the five processes that expose /metrics twice, INTERVAL seconds apart, and
prints per second over that interval the requests through the gateway (and their share of
5xx), orders placed and finished or cancelled, payments, messages published and consumed;
then the backlogs and parked messages of each service, the orders NEW and the oldest's
age, the last ledger audit, and which endpoint did not answer. docs/operations.md shows
it; docs/observability.md describes the metrics it reads.

Usage: python deploy/metrics_summary.py [--interval 2] [--timeout 2] [--host 127.0.0.1]
                                        [--port PROCESS=PORT ...]
The ports default to the variables manage_all.sh exports (GATEWAY_PORT, ORDERS_PORT,
PAYMENTS_PORT, ORDERS_WORKER_METRICS_PORT, PAYMENTS_WORKER_METRICS_PORT).

Only the standard library and prometheus_client's parser: the reading and the arithmetic
(parse, rate, summary_lines) are apart from the HTTP (scrape_all), for the unit tests.
"""

import argparse
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

# Process -> the variable of its port and that variable's default (as in manage_all.sh).
PORT_VARIABLES = {
    "gateway": ("GATEWAY_PORT", 8080),
    "orders": ("ORDERS_PORT", 8001),
    "payments": ("PAYMENTS_PORT", 8002),
    "orders-worker": ("ORDERS_WORKER_METRICS_PORT", 9101),
    "payments-worker": ("PAYMENTS_WORKER_METRICS_PORT", 9102),
}
PROCESSES = tuple(PORT_VARIABLES)
SERVICES = ("orders", "payments")  # their web process serves the database's gauges
# Probes by supervisors, `status` and Prometheus are not traffic (common/observability/http.py
# logs them quietly for the same reason).
PROBE_ROUTES = frozenset({"healthz", "readyz", "metrics"})

Labels = tuple[tuple[str, str], ...]
Samples = dict[tuple[str, Labels], float]
LabelTest = Callable[[dict[str, str]], bool]


@dataclass(frozen=True)
class Scrape:
    """One process's answer: its samples, or why there are none; `at` is when (monotonic)."""

    samples: Samples | None
    error: str = ""
    at: float = 0.0


# --- reading -----------------------------------------------------------------------------------


def parse(text: str) -> Samples:
    """(sample name, sorted labels) -> value, by prometheus_client's own parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def increase(before: Samples, after: Samples, name: str, where: LabelTest) -> float:
    """How much the counter `name` grew, series by series. A series that went down was reset
    (its process restarted, its metrics directory emptied): it grew by its new value."""
    grown = 0.0
    for key, value in after.items():
        if key[0] != name or not where(dict(key[1])):
            continue
        previous = before.get(key, 0.0)
        grown += value - previous if value >= previous else value
    return grown


def answered(first: dict[str, Scrape], second: dict[str, Scrape], process: str) -> bool:
    return all(
        round_.get(process) is not None and round_[process].samples is not None
        for round_ in (first, second)
    )


def rate(
    first: dict[str, Scrape],
    second: dict[str, Scrape],
    name: str,
    sources: Iterable[str],
    where: LabelTest = lambda labels: True,
) -> float | None:
    """Per second: the counter's increase in each source process over that process's own
    interval, added up. None when no source answered both scrapes."""
    per_second = None
    for process in sources:
        if not answered(first, second, process):
            continue
        before, after = first[process], second[process]
        elapsed = max(after.at - before.at, 1e-9)
        grown = increase(before.samples, after.samples, name, where)
        per_second = (per_second or 0.0) + grown / elapsed
    return per_second


def latest(first: dict[str, Scrape], second: dict[str, Scrape], process: str) -> Samples | None:
    """The newest samples of a process: its second scrape's, else its first's."""
    for round_ in (second, first):
        scrape = round_.get(process)
        if scrape is not None and scrape.samples is not None:
            return scrape.samples
    return None


def gauge(samples: Samples, name: str) -> float | None:
    return samples.get((name, ()))


def labelled(**wanted: str) -> LabelTest:
    return lambda labels: all(labels.get(key) == value for key, value in wanted.items())


def not_probe(labels: dict[str, str]) -> bool:
    return labels.get("route") not in PROBE_ROUTES


def server_error(labels: dict[str, str]) -> bool:
    return not_probe(labels) and labels.get("status", "").startswith("5")


# --- writing -----------------------------------------------------------------------------------


def per_second(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}/s"


def age(seconds: float) -> str:
    """3.2 s, 45 s, 12 min 5 s, 3 h 20 min, 2 d 4 h."""
    seconds = max(seconds, 0.0)
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    for size, unit, smaller, smaller_unit in (
        (86400, "d", 3600, "h"),
        (3600, "h", 60, "min"),
        (60, "min", 1, "s"),
    ):
        if whole >= size:
            return f"{whole // size} {unit} {whole % size // smaller} {smaller_unit}"
    return f"{whole} s"


def count(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def traffic_lines(first: dict[str, Scrape], second: dict[str, Scrape]) -> list[str]:
    def shown(name: str, sources: list[str], where: LabelTest = lambda labels: True) -> str:
        """n/a when no source answered; ">=" when only some did (the rest would add)."""
        value = rate(first, second, name, sources, where)
        partial = value is not None and not all(answered(first, second, p) for p in sources)
        return (">=" if partial else "") + per_second(value)

    requests = rate(first, second, "shop_http_requests_total", ["gateway"], not_probe)
    errors = rate(first, second, "shop_http_requests_total", ["gateway"], server_error)
    if requests is None or errors is None:
        share = "n/a"
    else:
        share = f"{100 * errors / requests:.1f} %" if requests else "-"
    # Where each counter is recorded: orders placed in the web process, completed by the
    # orders-worker's consumer, payments by the payments-worker's; messages are published
    # after a request's commit and by the workers' sweeps and handlers.
    completed, paid = "shop_orders_completed_total", "shop_payments_total"
    orders_worker, payments_worker = ["orders-worker"], ["payments-worker"]
    workers = orders_worker + payments_worker
    services = ["orders", "payments", *workers]
    return [
        f"  gateway      requests {per_second(requests)}, 5xx {share}",
        f"  orders       placed {shown('shop_orders_created_total', ['orders'])}, "
        f"finished {shown(completed, orders_worker, labelled(status='FINISHED'))}, "
        f"cancelled {shown(completed, orders_worker, labelled(status='CANCELLED'))}",
        f"  payments     succeeded {shown(paid, payments_worker, labelled(outcome='succeeded'))}, "
        f"failed {shown(paid, payments_worker, labelled(outcome='failed'))}",
        f"  messages     published {shown('shop_messages_published_total', services)}, "
        f"consumed {shown('shop_messages_consumed_total', workers)}",
    ]


def database_of(samples: Samples | None, service: str) -> str:
    """Why a service's database gauges are missing, or "" when they are there."""
    if samples is None:
        return f"n/a ({service} not answering)"
    if gauge(samples, "shop_database_up") != 1.0:
        return "n/a (its database is UNREADABLE)"
    return ""


def backlog_line(samples: Samples | None, service: str) -> str:
    head = f"  backlog      {service}: "
    missing = database_of(samples, service)
    if missing:
        return head + missing

    def pending(box: str) -> str:
        waiting = gauge(samples, f"shop_{box}_pending")
        oldest = gauge(samples, f"shop_{box}_oldest_pending_seconds")
        return f"{box} {count(waiting)}" + (f" (oldest {age(oldest)})" if waiting else "")

    parked_out = gauge(samples, "shop_outbox_failed") or 0.0
    parked_in = gauge(samples, "shop_inbox_failed") or 0.0
    parked = (
        f"PARKED {parked_out + parked_in:.0f} (outbox {parked_out:.0f}, inbox {parked_in:.0f})"
        if parked_out or parked_in
        else "parked 0"
    )
    return head + f"{pending('outbox')}, {pending('inbox')}, {parked}"


def new_orders_line(samples: Samples | None) -> str:
    head = "  orders NEW   "
    missing = database_of(samples, "orders")
    if missing:
        return head + missing
    waiting = gauge(samples, "shop_orders_new")
    oldest = gauge(samples, "shop_orders_new_oldest_seconds")
    return head + count(waiting) + (f", the oldest {age(oldest)} old" if waiting else "")


def ledger_line(samples: Samples | None, now: float) -> str:
    head = "  ledger       "
    missing = database_of(samples, "payments")
    if missing:
        return head + missing
    ok = gauge(samples, "shop_ledger_audit_ok")
    ran_at = gauge(samples, "shop_ledger_audit_timestamp_seconds")
    if ok is None or ran_at is None:
        return head + "last audit: never"
    verdict = "ok" if ok == 1.0 else "FAILED (audit_ledger names the accounts)"
    return head + f"last audit {verdict}, {age(now - ran_at)} ago"


def scraped_line(first: dict[str, Scrape], second: dict[str, Scrape]) -> str:
    missing = []
    for process in PROCESSES:
        if answered(first, second, process):
            continue
        failed = next(
            (r[process] for r in (first, second) if process in r and r[process].samples is None),
            None,
        )
        missing.append(f"{process} ({failed.error if failed else 'not scraped'})")
    if not missing:
        return f"  scraped      all {len(PROCESSES)} metrics endpoints"
    return "  NOT SCRAPED  " + "; ".join(missing)


def summary_lines(first: dict[str, Scrape], second: dict[str, Scrape], now: float) -> list[str]:
    """The summary, from two rounds of scrapes (process -> Scrape) and the wall-clock time."""
    if not any(latest(first, second, process) is not None for process in PROCESSES):
        return ["Metrics: no process answered", scraped_line(first, second)]
    elapsed = [second[p].at - first[p].at for p in PROCESSES if answered(first, second, p)] or [0.0]
    orders = latest(first, second, "orders")
    payments = latest(first, second, "payments")
    return [
        f"Metrics, per second over {max(elapsed):.1f} s:",
        *traffic_lines(first, second),
        new_orders_line(orders),
        *(backlog_line(latest(first, second, s), s) for s in SERVICES),
        ledger_line(payments, now),
        scraped_line(first, second),
    ]


# --- HTTP --------------------------------------------------------------------------------------


def scrape(url: str, timeout: float) -> Scrape:
    """GET a /metrics; any failure is a Scrape without samples that says why."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our URL
            text = response.read().decode("utf-8")
        return Scrape(parse(text), at=time.monotonic())
    except urllib.error.HTTPError as exc:
        return Scrape(None, f"HTTP {exc.code}")
    except urllib.error.URLError as exc:
        return Scrape(None, _reason(exc.reason))
    except TimeoutError:
        return Scrape(None, f"no answer in {timeout:g} s")
    except Exception as exc:  # an unreadable page, a reset connection: shown, never raised
        return Scrape(None, f"{type(exc).__name__}: {exc}"[:80])


def _reason(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError):
        return "no answer in time"
    return str(reason)[:80]


def scrape_all(urls: dict[str, str], timeout: float) -> dict[str, Scrape]:
    """Every process at once, so one round is a snapshot and a hung one costs `timeout`."""
    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        answers = {process: pool.submit(scrape, url, timeout) for process, url in urls.items()}
        return {process: answer.result() for process, answer in answers.items()}


def endpoints(host: str, overrides: dict[str, int], environ: dict[str, str]) -> dict[str, str]:
    urls = {}
    for process, (variable, default) in PORT_VARIABLES.items():
        port = overrides.get(process) or environ.get(variable) or default
        urls[process] = f"http://{host}:{port}/metrics"
    return urls


def port_override(text: str) -> tuple[str, int]:
    process, _, port = text.partition("=")
    if process not in PORT_VARIABLES or not port.isdigit():
        raise argparse.ArgumentTypeError(f"not PROCESS=PORT of {', '.join(PROCESSES)}: {text}")
    return process, int(port)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="A summary of the stack's metrics.")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between scrapes")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per scrape")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=port_override, action="append", default=[])
    args = parser.parse_args(argv)
    urls = endpoints(args.host, dict(args.port), dict(os.environ))
    first = scrape_all(urls, args.timeout)
    # Nothing answered: no second look (a stopped stack's status stays quick).
    if any(scrape.samples is not None for scrape in first.values()):
        time.sleep(args.interval)
        second = scrape_all(urls, args.timeout)
    else:
        second = first
    print("\n".join(summary_lines(first, second, time.time())))  # noqa: T201 - a CLI's output
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
