"""OpenTelemetry behind common/observability/tracing.py, loaded only when
OTEL_EXPORTER_OTLP_ENDPOINT is set.

The SDK's own environment variables apply (OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER,
OTEL_EXPORTER_OTLP_HEADERS, ...). Spans leave in batches from a thread of each process
(the SDK re-creates it in a forked child: gunicorn and Celery pool processes).

Database statements get a span each through Django's execute wrappers (OpenTelemetry's
psycopg instrumentation would not see them: Django sets its own cursor factory on every
connection), and only inside a trace: the beat's idle sweeps make none.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connections
from django.db.backends.signals import connection_created
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanKind, Status, StatusCode, TraceFlags

from common.observability import context
from common.observability.traceparent import SpanContext

KINDS = {
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
    "internal": SpanKind.INTERNAL,
}
STATEMENT_TEXT_LIMIT = 2000


class ExportedSpan:
    def __init__(self, otel_span):
        self._span = otel_span
        otel_context = otel_span.get_span_context()
        self.context = SpanContext(
            f"{otel_context.trace_id:032x}",
            f"{otel_context.span_id:016x}",
            otel_context.trace_flags.sampled,
        )

    def rename(self, name: str) -> None:
        self._span.update_name(name)

    def set_attribute(self, key: str, value) -> None:
        self._span.set_attribute(key, value)

    def set_error(self, description: str) -> None:
        self._span.set_status(Status(StatusCode.ERROR, description))


class OpenTelemetryExporter:
    def __init__(self, provider: TracerProvider):
        self.provider = provider
        self.tracer = provider.get_tracer("shop")

    @classmethod
    def from_environment(cls, span_exporter=None) -> "OpenTelemetryExporter":
        name = os.environ.get("OTEL_SERVICE_NAME") or getattr(settings, "SERVICE_NAME", "shop")
        provider = TracerProvider(resource=Resource.create({"service.name": name}))
        provider.add_span_processor(BatchSpanProcessor(span_exporter or OTLPSpanExporter()))
        exporter = cls(provider)
        connection_created.connect(exporter.trace_statements_of, weak=False)
        for connection in connections.all(initialized_only=True):  # this thread's, opened before
            exporter.trace_statements_of(None, connection)
        return exporter

    @contextmanager
    def start(
        self, name: str, kind: str, parent: SpanContext | None, attributes: dict
    ) -> Iterator[ExportedSpan]:
        with self.tracer.start_as_current_span(
            name, context=_otel_parent(parent), kind=KINDS[kind], attributes=attributes or None
        ) as otel_span:
            yield ExportedSpan(otel_span)

    def trace_statements_of(self, sender, connection, **kwargs) -> None:
        if self.statement_span not in connection.execute_wrappers:
            connection.execute_wrappers.append(self.statement_span)

    def statement_span(self, execute, sql, params, many, call_context):
        if not context.get("trace_id"):
            return execute(sql, params, many, call_context)
        text = str(sql)
        verb = text.split(None, 1)[0].upper() if text.strip() else "SQL"
        attributes = {
            "db.system.name": call_context["connection"].vendor,
            "db.query.text": text[:STATEMENT_TEXT_LIMIT],
        }
        with self.tracer.start_as_current_span(verb, kind=SpanKind.CLIENT, attributes=attributes):
            return execute(sql, params, many, call_context)

    def force_flush(self) -> None:
        self.provider.force_flush()

    def shutdown(self) -> None:
        connection_created.disconnect(self.trace_statements_of)
        self.provider.shutdown()


def _otel_parent(parent: SpanContext | None) -> Context:
    """The parent as OpenTelemetry takes it; an empty Context makes a new trace."""
    if parent is None:
        return Context()
    remote = trace.SpanContext(
        int(parent.trace_id, 16),
        int(parent.span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if parent.sampled else TraceFlags.DEFAULT),
    )
    return trace.set_span_in_context(NonRecordingSpan(remote))
