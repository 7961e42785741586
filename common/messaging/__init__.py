"""Reliable messaging between services: a transactional outbox and an idempotent inbox.

What a service uses is here, and only here (the modules beside it are internal):

- `MessageType`: a message type, its queue and its payload schema, declared once in a
  contracts module that producer and consumer both import (common/contracts.py);
- `record_event(message_type, payload=...)` inside the business transaction (and
  `record_events` for a batch's answers), and `publishing_together()` around many of them;
- `@handles(message_type)` on a handler `handler(events: list[Event])`, which gets a batch
  of messages of its type at once (a batch of one when a batch failed), registered when the app is
  ready (its AppConfig.ready imports its handlers module); `message_type.validated(event)`
  checks a payload, and `PermanentFailure` parks a message no retry can fix.

Settings (settings.MESSAGING) say only which queues the worker consumes and how. Everything
that talks to RabbitMQ lives in this package; no service opens a broker connection itself.
See docs/messaging.md.

The names are loaded on first use (PEP 562): Django imports this package while it loads its
apps, before any model may be defined, and record_event needs the outbox's model.
"""

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what tools and readers follow; __getattr__ below loads the same names
    from common.messaging.outbox import (
        OutsideTransaction,
        publishing_together,
        record_event,
        record_events,
    )
    from common.messaging.registry import handles
    from common.messaging.types import Event, MessageType, PermanentFailure

__all__ = [
    "Event",
    "MessageType",
    "OutsideTransaction",
    "PermanentFailure",
    "handles",
    "publishing_together",
    "record_event",
    "record_events",
]
_PUBLIC = {
    "Event": "common.messaging.types",
    "MessageType": "common.messaging.types",
    "PermanentFailure": "common.messaging.types",
    "handles": "common.messaging.registry",
    "OutsideTransaction": "common.messaging.outbox",
    "publishing_together": "common.messaging.outbox",
    "record_event": "common.messaging.outbox",
    "record_events": "common.messaging.outbox",
}


def __getattr__(name: str):
    try:
        module = _PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    return getattr(import_module(module), name)
