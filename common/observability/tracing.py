"""W3C trace context (`traceparent`) across HTTP and messages, and OpenTelemetry spans.

Every request and every handled message runs in a span: its trace id comes from the
caller's `traceparent` (an HTTP header, or a message's envelope header) or is new, and its
span id is new. The ids are bound into the log context (common/observability/context.py), and
the current span's `traceparent` goes out with every call to a service and every event
recorded, so one trace follows an order from the gateway through both services.

Exporting is OpenTelemetry's: when OTEL_EXPORTER_OTLP_ENDPOINT is set, each span is also an
OpenTelemetry span (HTTP server and client, database statements, message send and process),
exported over OTLP/HTTP in batches. When it is not set, no OpenTelemetry code runs: a span is
two ids in a context variable.
"""

import logging
import os
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from common.observability import context
from common.observability.traceparent import SpanContext, parse_traceparent

logger = logging.getLogger(__name__)


def current_span() -> SpanContext | None:
    trace_id, span_id = context.get("trace_id"), context.get("span_id")
    return SpanContext(trace_id, span_id) if trace_id and span_id else None


def current_traceparent() -> str:
    """The `traceparent` to send on with a call or a message ("" outside any span)."""
    span = current_span()
    return span.traceparent if span else ""


class Span:
    """The span of a block: its ids, and a name that may be known only later (an HTTP
    request's route)."""

    def __init__(self, span_context: SpanContext, exported=None):
        self.context = span_context
        self._exported = exported  # the OpenTelemetry span, when exporting

    def rename(self, name: str) -> None:
        if self._exported is not None:
            self._exported.rename(name)

    def set_attribute(self, key: str, value) -> None:
        if self._exported is not None:
            self._exported.set_attribute(key, value)

    def set_error(self, description: str) -> None:
        if self._exported is not None:
            self._exported.set_error(description)


@contextmanager
def span(
    name: str, *, kind: str = "internal", parent: str | None = None, **attributes
) -> Iterator[Span]:
    """A span for the block, child of `parent` (a traceparent received) when it is valid,
    else of the current span, else the root of a new trace. `kind`: server, client,
    producer, consumer or internal."""
    parent_context = parse_traceparent(parent) if parent else None
    parent_context = parent_context or current_span()
    exporter = _exporting()
    if exporter is None:
        span_context = SpanContext(
            parent_context.trace_id if parent_context else _new_id(128),
            _new_id(64),
            parent_context.sampled if parent_context else True,
        )
        with context.bound(trace_id=span_context.trace_id, span_id=span_context.span_id):
            yield Span(span_context)
        return
    with exporter.start(name, kind, parent_context, attributes) as exported:
        span_context = exported.context
        with context.bound(trace_id=span_context.trace_id, span_id=span_context.span_id):
            yield Span(span_context, exported)


def child_traceparent(name: str, *, kind: str = "producer", **attributes) -> str:
    """A span of its own for something handed on (a message recorded now and published
    later): it ends at once, and its traceparent goes with the message, so the receiver's
    span is its child. "" outside any span."""
    if current_span() is None:
        return ""
    with span(name, kind=kind, **attributes) as handed_on:
        return handed_on.context.traceparent


def _new_id(bits: int) -> str:
    # Random, not cryptographic: W3C asks for uniqueness, and getrandbits costs ~100 ns.
    return f"{random.getrandbits(bits) or 1:0{bits // 4}x}"


_setup_lock = threading.Lock()
_exporter_state: dict[str, Any] = {}


def _exporting():
    """The OpenTelemetry exporter of this process, set up at its first span, or None
    when OTEL_EXPORTER_OTLP_ENDPOINT is not set (checked once)."""
    if "exporter" in _exporter_state:
        return _exporter_state["exporter"]
    with _setup_lock:
        if "exporter" not in _exporter_state:
            exporter = None
            if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
                from common.observability.otel import OpenTelemetryExporter

                exporter = OpenTelemetryExporter.from_environment()
            _exporter_state["exporter"] = exporter
    return _exporter_state["exporter"]


def exporting() -> bool:
    return _exporting() is not None


def reset_for_tests() -> None:
    """Forget the exporter, so the next span reads the environment again."""
    with _setup_lock:
        exporter = _exporter_state.pop("exporter", None)
    if exporter is not None:
        exporter.shutdown()
