"""The W3C trace context header: `traceparent: 00-<trace id>-<parent span id>-<flags>`."""

import re
from dataclasses import dataclass
from typing import Any

TRACEPARENT_HEADER = "traceparent"
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


@dataclass(frozen=True)
class SpanContext:
    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16 lowercase hex digits
    sampled: bool = True

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"


def parse_traceparent(value: Any) -> SpanContext | None:
    """The span context a `traceparent` names, or None when it is not a valid one (the
    W3C rules: version ff and all-zero ids are invalid; a version 00 header has no tail)."""
    if not isinstance(value, str) or len(value) > 512:
        return None
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    version, trace_id, span_id, flags, tail = match.groups()
    if version == "ff" or (version == "00" and tail) or trace_id == _ZERO_TRACE:
        return None
    if span_id == _ZERO_SPAN:
        return None
    return SpanContext(trace_id, span_id, sampled=bool(int(flags, 16) & 1))
