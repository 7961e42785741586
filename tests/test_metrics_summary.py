"""The metrics summary of `./manage_all.sh status` (deploy/metrics_summary.py): its figures
from two prepared rounds of exposition text, and its scrapes of real HTTP endpoints."""

import http.server
import socket
import threading
from textwrap import dedent

import pytest

from deploy import metrics_summary as summary

NOW = 1_750_000_000.0  # the wall clock of the summary

FIRST = {
    "gateway": """
        # HELP shop_http_requests_total Requests answered.
        # TYPE shop_http_requests_total counter
        shop_http_requests_total{method="POST",route="orders",status="201"} 10.0
        shop_http_requests_total{method="GET",route="orders/<uuid:order_id>",status="200"} 30.0
        shop_http_requests_total{method="GET",route="readyz",status="200"} 5.0
        shop_http_requests_total{method="GET",route="metrics",status="200"} 5.0
    """,
    "orders": """
        # TYPE shop_orders_created counter
        shop_orders_created_total 10.0
        # TYPE shop_messages_published counter
        shop_messages_published_total{type="order.created"} 9.0
        # TYPE shop_outbox_pending gauge
        shop_outbox_pending 1.0
        # TYPE shop_outbox_oldest_pending_seconds gauge
        shop_outbox_oldest_pending_seconds 0.5
        # TYPE shop_inbox_pending gauge
        shop_inbox_pending 0.0
        # TYPE shop_inbox_oldest_pending_seconds gauge
        shop_inbox_oldest_pending_seconds 0.0
        # TYPE shop_outbox_failed gauge
        shop_outbox_failed 0.0
        # TYPE shop_inbox_failed gauge
        shop_inbox_failed 0.0
        # TYPE shop_orders_new gauge
        shop_orders_new 1.0
        # TYPE shop_orders_new_oldest_seconds gauge
        shop_orders_new_oldest_seconds 0.5
        # TYPE shop_database_up gauge
        shop_database_up 1.0
    """,
    "payments": """
        # TYPE shop_deposits counter
        shop_deposits_total 2.0
        # TYPE shop_outbox_pending gauge
        shop_outbox_pending 0.0
        # TYPE shop_outbox_oldest_pending_seconds gauge
        shop_outbox_oldest_pending_seconds 0.0
        # TYPE shop_inbox_pending gauge
        shop_inbox_pending 0.0
        # TYPE shop_inbox_oldest_pending_seconds gauge
        shop_inbox_oldest_pending_seconds 0.0
        # TYPE shop_outbox_failed gauge
        shop_outbox_failed 0.0
        # TYPE shop_inbox_failed gauge
        shop_inbox_failed 1.0
        # TYPE shop_ledger_audit_ok gauge
        shop_ledger_audit_ok 1.0
        # TYPE shop_ledger_audit_timestamp_seconds gauge
        shop_ledger_audit_timestamp_seconds 1749992800.0
        # TYPE shop_database_up gauge
        shop_database_up 1.0
    """,
    "orders-worker": """
        # TYPE shop_orders_completed counter
        shop_orders_completed_total{reason="",status="FINISHED"} 8.0
        shop_orders_completed_total{reason="insufficient_funds",status="CANCELLED"} 1.0
        # TYPE shop_messages_published counter
        shop_messages_published_total{type="order.created"} 1.0
        # TYPE shop_messages_consumed counter
        shop_messages_consumed_total{queue="payment_status"} 9.0
    """,
    "payments-worker": """
        # TYPE shop_payments counter
        shop_payments_total{outcome="succeeded",reason=""} 8.0
        shop_payments_total{outcome="failed",reason="insufficient_funds"} 1.0
        # TYPE shop_messages_published counter
        shop_messages_published_total{type="payment.result"} 9.0
        # TYPE shop_messages_consumed counter
        shop_messages_consumed_total{queue="orders"} 10.0
    """,
}

# Two seconds later: 8 orders placed (and 2 GETs, one answered 503), 6 finished and 2
# cancelled, as many payments, messages both ways; a backlog grew in Orders.
SECOND = {
    "gateway": """
        # TYPE shop_http_requests_total counter
        shop_http_requests_total{method="POST",route="orders",status="201"} 18.0
        shop_http_requests_total{method="GET",route="orders/<uuid:order_id>",status="200"} 31.0
        shop_http_requests_total{method="GET",route="orders/<uuid:order_id>",status="503"} 1.0
        shop_http_requests_total{method="GET",route="readyz",status="200"} 9.0
        shop_http_requests_total{method="GET",route="metrics",status="200"} 6.0
    """,
    "orders": FIRST["orders"]
    .replace("shop_orders_created_total 10.0", "shop_orders_created_total 18.0")
    .replace('{type="order.created"} 9.0', '{type="order.created"} 15.0')
    .replace("shop_outbox_pending 1.0", "shop_outbox_pending 2.0")
    .replace("shop_outbox_oldest_pending_seconds 0.5", "shop_outbox_oldest_pending_seconds 1.25")
    .replace("shop_orders_new 1.0", "shop_orders_new 3.0")
    .replace("shop_orders_new_oldest_seconds 0.5", "shop_orders_new_oldest_seconds 75.0"),
    "payments": FIRST["payments"],
    "orders-worker": """
        # TYPE shop_orders_completed counter
        shop_orders_completed_total{reason="",status="FINISHED"} 14.0
        shop_orders_completed_total{reason="insufficient_funds",status="CANCELLED"} 3.0
        # TYPE shop_messages_published counter
        shop_messages_published_total{type="order.created"} 3.0
        # TYPE shop_messages_consumed counter
        shop_messages_consumed_total{queue="payment_status"} 17.0
    """,
    "payments-worker": """
        # TYPE shop_payments counter
        shop_payments_total{outcome="succeeded",reason=""} 14.0
        shop_payments_total{outcome="failed",reason="insufficient_funds"} 3.0
        # TYPE shop_messages_published counter
        shop_messages_published_total{type="payment.result"} 17.0
        # TYPE shop_messages_consumed counter
        shop_messages_consumed_total{queue="orders"} 18.0
    """,
}


def round_of(texts: dict[str, str], at: float) -> dict[str, summary.Scrape]:
    return {
        process: summary.Scrape(summary.parse(dedent(text)), at=at)
        for process, text in texts.items()
    }


def lines_of(first: dict, second: dict) -> dict[str, str]:
    """The summary's lines by their heading (the backlogs by service)."""
    lines = summary.summary_lines(first, second, NOW)
    by_heading = {"title": lines[0]}
    for line in lines[1:]:
        heading, _, rest = line.strip().partition("  ")
        if heading == "backlog":
            heading, _, rest = rest.strip().partition(": ")
            heading = f"backlog {heading}"
        by_heading[heading] = rest.strip()
    return by_heading


def test_the_figures_of_two_rounds_of_scrapes():
    lines = summary.summary_lines(round_of(FIRST, 100.0), round_of(SECOND, 102.0), NOW)

    assert lines == [
        "Metrics, per second over 2.0 s:",
        # 8 POSTs + 2 GETs (one 503) in 2 s; the probes are not traffic.
        "  gateway      requests 5.0/s, 5xx 10.0 %",
        "  orders       placed 4.0/s, finished 3.0/s, cancelled 1.0/s",
        "  payments     succeeded 3.0/s, failed 1.0/s",
        # Published by the web process and both workers: 6 + 2 + 8 in 2 s.
        "  messages     published 8.0/s, consumed 8.0/s",
        "  orders NEW   3, the oldest 1 min 15 s old",
        "  backlog      orders: outbox 2 (oldest 1.2 s), inbox 0, parked 0",
        "  backlog      payments: outbox 0, inbox 0, PARKED 1 (outbox 0, inbox 1)",
        "  ledger       last audit ok, 2 h 0 min ago",
        "  scraped      all 5 metrics endpoints",
    ]


def test_each_process_is_measured_over_its_own_interval():
    first, second = round_of(FIRST, 100.0), round_of(SECOND, 102.0)
    second["orders"] = summary.Scrape(second["orders"].samples, at=104.0)  # answered late

    placed = summary.rate(first, second, "shop_orders_created_total", ["orders"])

    assert placed == pytest.approx(8 / 4)


def test_a_counter_that_went_down_was_reset_and_grew_by_its_new_value():
    # The orders-worker restarted between the scrapes: its metrics directory was emptied.
    second = dict(SECOND)
    second["orders-worker"] = """
        # TYPE shop_orders_completed counter
        shop_orders_completed_total{reason="",status="FINISHED"} 2.0
    """

    lines = lines_of(round_of(FIRST, 100.0), round_of(second, 102.0))

    assert lines["orders"] == "placed 4.0/s, finished 1.0/s, cancelled 0.0/s"


def test_a_process_that_did_not_answer_is_named_and_its_figures_are_missing():
    first, second = round_of(FIRST, 100.0), round_of(SECOND, 102.0)
    second["payments-worker"] = summary.Scrape(None, "connection refused")
    first["orders"] = summary.Scrape(None, "no answer in 2 s")

    lines = lines_of(first, second)

    assert lines["NOT SCRAPED"] == (
        "orders (no answer in 2 s); payments-worker (connection refused)"
    )
    assert lines["payments"] == "succeeded n/a, failed n/a"
    assert lines["orders"] == "placed n/a, finished 3.0/s, cancelled 1.0/s"
    # Only the orders-worker's share is known: at least that much.
    assert lines["messages"] == "published >=1.0/s, consumed >=4.0/s"
    # The gauges come from the newest scrape that answered.
    assert lines["orders NEW"] == "3, the oldest 1 min 15 s old"


def test_a_web_process_down_leaves_its_gauges_unknown():
    first, second = round_of(FIRST, 100.0), round_of(SECOND, 102.0)
    for round_ in (first, second):
        round_["orders"] = summary.Scrape(None, "connection refused")
        round_["payments"] = summary.Scrape(None, "HTTP 404")

    lines = lines_of(first, second)

    assert lines["orders NEW"] == "n/a (orders not answering)"
    assert lines["backlog orders"] == "n/a (orders not answering)"
    assert lines["backlog payments"] == "n/a (payments not answering)"
    assert lines["ledger"] == "n/a (payments not answering)"
    assert lines["NOT SCRAPED"] == "orders (connection refused); payments (HTTP 404)"


def test_an_unreadable_database_is_said_instead_of_its_gauges():
    unreadable = dedent("""
        # TYPE shop_orders_created counter
        shop_orders_created_total 18.0
        # TYPE shop_database_up gauge
        shop_database_up 0.0
    """)
    second = round_of(SECOND, 102.0)
    second["orders"] = summary.Scrape(summary.parse(unreadable), at=102.0)

    lines = lines_of(round_of(FIRST, 100.0), second)

    assert lines["orders NEW"] == "n/a (its database is UNREADABLE)"
    assert lines["backlog orders"] == "n/a (its database is UNREADABLE)"
    assert lines["orders"].startswith("placed 4.0/s")


def test_the_ledger_audit_never_run_or_failed():
    # Before the first audit its gauges are absent.
    without_audit = "\n".join(
        line for line in FIRST["payments"].splitlines() if "ledger_audit" not in line
    )
    never = {**SECOND, "payments": without_audit}
    failed = {
        **SECOND,
        "payments": FIRST["payments"].replace("shop_ledger_audit_ok 1.0", "shop_ledger_audit_ok 0"),
    }

    assert lines_of(round_of(FIRST, 100.0), round_of(never, 102.0))["ledger"] == (
        "last audit: never"
    )
    assert lines_of(round_of(FIRST, 100.0), round_of(failed, 102.0))["ledger"] == (
        "last audit FAILED (audit_ledger names the accounts), 2 h 0 min ago"
    )


def test_an_idle_system_has_no_5xx_share():
    lines = lines_of(round_of(FIRST, 100.0), round_of(FIRST, 102.0))

    assert lines["gateway"] == "requests 0.0/s, 5xx -"
    assert lines["backlog orders"] == "outbox 1 (oldest 0.5 s), inbox 0, parked 0"


def test_nothing_answering_is_two_lines():
    down = {process: summary.Scrape(None, "connection refused") for process in summary.PROCESSES}

    lines = summary.summary_lines(down, down, NOW)

    assert lines == [
        "Metrics: no process answered",
        "  NOT SCRAPED  "
        + "; ".join(f"{process} (connection refused)" for process in summary.PROCESSES),
    ]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.04, "0.0 s"),
        (9.96, "10.0 s"),
        (42.7, "42 s"),
        (75, "1 min 15 s"),
        (3 * 3600 + 20 * 60 + 5, "3 h 20 min"),
        (2 * 86400 + 4 * 3600, "2 d 4 h"),
        (-3, "0.0 s"),  # clocks a little apart
    ],
)
def test_ages(seconds, shown):
    assert summary.age(seconds) == shown


def test_endpoints_come_from_the_arguments_then_the_environment_then_the_defaults():
    urls = summary.endpoints(
        "127.0.0.1", {"orders": 18001}, {"ORDERS_PORT": "28001", "GATEWAY_PORT": "18080"}
    )

    assert urls == {
        "gateway": "http://127.0.0.1:18080/metrics",
        "orders": "http://127.0.0.1:18001/metrics",
        "payments": "http://127.0.0.1:8002/metrics",
        "orders-worker": "http://127.0.0.1:9101/metrics",
        "payments-worker": "http://127.0.0.1:9102/metrics",
    }


def test_a_port_argument_names_a_known_process():
    assert summary.port_override("orders-worker=9201") == ("orders-worker", 9201)
    for wrong in ("beat=1", "orders", "orders=x"):
        with pytest.raises(Exception, match="PROCESS=PORT"):
            summary.port_override(wrong)


@pytest.fixture
def metrics_server():
    """A loopback HTTP server: /metrics answers FIRST's orders text, anything else 404."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = dedent(FIRST["orders"]).encode()
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body if self.path == "/metrics" else b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_scrapes_over_http_say_why_one_failed(metrics_server):
    base = f"http://127.0.0.1:{metrics_server}"

    answers = summary.scrape_all(
        {
            "orders": f"{base}/metrics",
            "payments": f"{base}/elsewhere",
            "gateway": f"http://127.0.0.1:{closed_port()}/metrics",
        },
        timeout=2,
    )

    assert answers["orders"].samples[("shop_orders_new", ())] == 1.0
    assert answers["orders"].at > 0
    assert answers["payments"] == summary.Scrape(None, "HTTP 404")
    assert answers["gateway"] == summary.Scrape(None, "connection refused")


def test_main_prints_the_summary_whatever_answers(metrics_server, capsys, monkeypatch):
    for variable, _ in summary.PORT_VARIABLES.values():
        monkeypatch.setenv(variable, str(closed_port()))

    status = summary.main(["--interval", "0.1", "--port", f"orders={metrics_server}"])

    printed = capsys.readouterr().out.splitlines()
    assert status == 0
    assert printed[0].startswith("Metrics, per second over ")
    assert "  orders NEW   1, the oldest 0.5 s old" in printed
    assert printed[-1].startswith("  NOT SCRAPED  gateway (connection refused); payments (")
