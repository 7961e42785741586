"""What the current work is about: the request id, the trace and the ids of the order and
message at hand, for every log line and every message it produces.

Context variables, so each gunicorn thread, and each message a consumer handles, has its
own; `bound()` sets some for a block and restores them after it.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# The fields a log line can carry (common/logging.py), in the order they are shown.
FIELDS = ("request_id", "trace_id", "span_id", "order_id", "message_id")

_current: ContextVar[dict[str, str]] = ContextVar("observability_context", default={})  # noqa: B039 - never mutated


def current() -> dict[str, str]:
    """The fields bound now (a mapping not to be modified)."""
    return _current.get()


def get(name: str) -> str:
    return _current.get().get(name, "")


@contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    """Bind fields for the block; empty values leave a field as it was."""
    token = _current.set({**_current.get(), **{k: str(v) for k, v in fields.items() if v}})
    try:
        yield
    finally:
        _current.reset(token)
