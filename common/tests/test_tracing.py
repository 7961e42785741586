"""Trace context across HTTP and messages, and spans exported over OTLP when asked for
(common/observability/tracing.py, otel.py)."""

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import transaction
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from common.messaging import record_event
from common.observability import context, tracing
from common.observability.traceparent import parse_traceparent
from common.tests.sampleapp.contracts import SAMPLE_CREATED

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        f"ff-{TRACE_ID}-{CALLER_SPAN}-01",  # version ff is invalid
        f"00-{'0' * 32}-{CALLER_SPAN}-01",  # all-zero trace id
        f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero parent id
        f"00-{TRACE_ID.upper()}-{CALLER_SPAN}-01",  # upper case is invalid
        f"00-{TRACE_ID}-{CALLER_SPAN}-01-extra",  # version 00 has no tail
        "0" * 600,
    ],
)
def test_an_invalid_traceparent_names_no_parent(header):
    assert parse_traceparent(header) is None


def test_a_valid_traceparent_is_read_with_its_sampled_flag():
    parent = parse_traceparent(f"00-{TRACE_ID}-{CALLER_SPAN}-00")
    assert (parent.trace_id, parent.span_id, parent.sampled) == (TRACE_ID, CALLER_SPAN, False)
    assert parse_traceparent(f"01-{TRACE_ID}-{CALLER_SPAN}-01-future").trace_id == TRACE_ID


def test_a_span_continues_its_callers_trace_and_binds_it_for_the_logs():
    with tracing.span("work", parent=TRACEPARENT) as span:
        assert span.context.trace_id == TRACE_ID
        assert span.context.span_id != CALLER_SPAN
        assert context.get("trace_id") == TRACE_ID
        with tracing.span("inner") as inner:  # a child of the current span
            assert inner.context.trace_id == TRACE_ID
        assert tracing.current_traceparent() == span.context.traceparent
    assert context.get("trace_id") == ""


def test_a_span_without_a_valid_parent_starts_a_new_trace():
    with tracing.span("first", parent="garbage") as first, tracing.span("x"):
        pass
    with tracing.span("second") as second:
        pass
    assert first.context.trace_id != second.context.trace_id
    assert len(first.context.trace_id) == 32
    assert int(first.context.trace_id, 16)


class Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver: keeps the spans of every export request."""

    spans: list = []

    def do_POST(self):
        request = ExportTraceServiceRequest()
        request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
        for resource_spans in request.resource_spans:
            service = next(
                a.value.string_value
                for a in resource_spans.resource.attributes
                if a.key == "service.name"
            )
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend((service, span) for span in scope_spans.spans)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def otlp_collector(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Collector.spans = []
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    tracing.reset_for_tests()
    yield Collector.spans
    tracing.reset_for_tests()  # flushes and stops this exporter
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    tracing.reset_for_tests()
    server.shutdown()


@pytest.mark.django_db(transaction=True)
def test_with_an_otlp_endpoint_the_request_its_statements_and_its_events_are_exported(
    client, otlp_collector
):
    response = client.get("/readyz", headers={"traceparent": TRACEPARENT})
    assert response.status_code == 200
    with tracing.span("handle", parent=TRACEPARENT), transaction.atomic():
        event = record_event(SAMPLE_CREATED, payload={"value": "v"})
    tracing._exporting().force_flush()

    by_name = {span.name: span for _, span in otlp_collector}
    server = by_name["GET readyz"]
    assert server.trace_id.hex() == TRACE_ID
    assert server.parent_span_id.hex() == CALLER_SPAN
    statement = by_name["SELECT"]  # readyz's SELECT 1, a child of the request's span
    assert (statement.trace_id, statement.parent_span_id) == (server.trace_id, server.span_id)
    send = by_name["sample.created send"]
    assert send.trace_id.hex() == TRACE_ID
    # The message carries the send span: its consumer's span will be a child of it.
    assert event.headers["traceparent"] == f"00-{TRACE_ID}-{send.span_id.hex()}-01"
    assert {service for service, _ in otlp_collector} == {"sample"}


def test_without_an_otlp_endpoint_no_opentelemetry_code_is_loaded():
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    script = (
        "import django, sys; django.setup()\n"
        "from django.test import Client\n"
        f"headers = {{'traceparent': {TRACEPARENT!r}, 'host': 'localhost'}}\n"
        "assert Client().get('/healthz', headers=headers).status_code == 200\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script],
        env={**environment, "DJANGO_SETTINGS_MODULE": "common.tests.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
