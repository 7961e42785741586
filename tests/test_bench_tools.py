"""The benchmark's tools that read or make traffic: the plain threaded client of the load
generator (against a small HTTP server of the test's own), and the statement counter's
reading of PostgreSQL's log."""

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.statements import STATEMENT, kind_of, report


class Orders(BaseHTTPRequestHandler):
    """POST /orders: 201 with an id, or 503 for every third request; records the headers."""

    seen: list[dict] = []
    lock = threading.Lock()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            self.seen.append({**dict(self.headers), "body": body})
            number = len(self.seen)
        status, answer = (503, b'{"detail": "busy"}') if number % 3 == 0 else (201, b"")
        if status == 201:
            answer = json.dumps({"id": f"order-{number}"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def orders_server():
    Orders.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Orders)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_threaded_requests_client_counts_answers_errors_and_created_orders(orders_server):
    spec = {
        "base_url": orders_server, "method": "POST", "path": "/orders", "seconds": 1,
        "concurrency": 4, "users": ["u1", "u2"], "body": {"amount": "1.00"}, "key": True,
        "headers": {"X-Internal-Token": "t"},
    }  # fmt: skip
    output = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.loadgen", "threads", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    result = json.loads(output)

    seen = Orders.seen
    assert len(seen) > 10
    assert result["requests"] + result["errors"]["503"] == len(seen)
    assert result["requests"] == len(result["created"]) == len(seen) - len(seen) // 3
    assert result["first_error"] == 'POST /orders: 503 {"detail": "busy"}'
    assert {request["X-User-Id"] for request in seen} == {"u1", "u2"}
    assert len({request["Idempotency-Key"] for request in seen}) == len(seen)
    assert {request["X-Internal-Token"] for request in seen} == {"t"}
    assert {json.dumps(request["body"]) for request in seen} == {'{"amount": "1.00"}'}


PREFIX = "2026-12-02 16:12:51.301 UTC [7001] "
# Log lines, not queries (hence the S608 exemptions): the server's lines as log_line_prefix
# '%m [%p] %q%u@%d ' writes them; a statement's text may start on the next line (the relay's
# claim), with a tab before each further line.
LOG = [
    PREFIX + "e2e_x_orders@e2e_x_orders LOG:  statement: BEGIN",
    PREFIX + "e2e_x_orders@e2e_x_orders LOG:  statement: INSERT INTO orders_order VALUES ('a')",  # noqa: S608
    PREFIX + "e2e_x_orders@e2e_x_orders LOG:  statement: SELECT pg_notify('order_status', p)",
    PREFIX + "e2e_x_orders@e2e_x_orders LOG:  statement: COMMIT",
    PREFIX + "e2e_x_orders@e2e_x_orders LOG:  statement: ",
    "\t            WITH claimed AS (",
    "\t                SELECT id FROM outbox WHERE id = ANY('{a}') FOR UPDATE SKIP LOCKED",
    PREFIX + 'e2e_x_payments@e2e_x_payments LOG:  statement: SAVEPOINT "s1_x1"',
    PREFIX + "e2e_x_payments@e2e_x_payments LOG:  statement: SELECT id FROM a FOR UPDATE",  # noqa: S608
    PREFIX + "e2e_x_payments@e2e_x_payments LOG:  statement: SELECT 1",
    PREFIX + "other@someone_elses LOG:  statement: SELECT 1",
    PREFIX + "e2e_x_payments@e2e_x_payments LOG:  duration: 0.1 ms",
]


def test_the_statement_counter_reads_the_stacks_databases_only_by_kind():
    kinds = [kind_of(m["sql"]) for line in LOG if (m := STATEMENT.search(line))]
    assert kinds == [
        "BEGIN", "INSERT", "SELECT pg_notify", "COMMIT",
        "WITH ... UPDATE ... RETURNING (the outbox claim)", "SAVEPOINT",
        "SELECT ... FOR UPDATE", "SELECT 1 (health check)", "SELECT 1 (health check)",
    ]  # fmt: skip

    text = report(LOG, {"orders": "e2e_x_orders", "payments": "e2e_x_payments"}, 2, 1)
    assert "statements in all: 8, per order 4.00" in text
    assert "  orders: 5 (2.50 per order)" in text
    assert "  payments: 3 (1.50 per order)" in text
