"""The wire format of every message (docs/messaging.md has examples).

Body, JSON in UTF-8:
    {"id": "<uuid>", "type": "order.created", "version": 1, "source": "orders",
     "occurred_at": "2026-11-26T12:00:00.000000+00:00", "headers": {...}, "payload": {...}}
AMQP properties repeat id and type (message_id, type) for tools that show only those;
messages are persistent (delivery_mode 2) and published with publisher confirms.
"""

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

CONTENT_TYPE = "application/json"
RAW_BODY_LIMIT = 64 * 1024


class MalformedMessage(ValueError):
    """The body is not an envelope this system can handle; kept as a failed inbox row."""


@dataclass(frozen=True)
class Envelope:
    id: str
    type: str
    version: int
    payload: dict[str, Any]
    source: str = ""
    occurred_at: str = ""
    headers: dict[str, Any] = field(default_factory=dict)

    def to_body(self) -> bytes:
        return json.dumps(
            {
                "id": self.id,
                "type": self.type,
                "version": self.version,
                "source": self.source,
                "occurred_at": self.occurred_at,
                "headers": self.headers,
                "payload": self.payload,
            },
            separators=(",", ":"),
        ).encode()


def is_usable_id(value, max_length: int = 200) -> bool:
    """A non-empty string PostgreSQL can store and index: no NUL, no lone surrogate."""
    if not isinstance(value, str) or not 0 < len(value) <= max_length or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeError:
        return False
    return True


def parse_body(body: bytes, *, message_id_property: str | None = None) -> Envelope:
    """Decode a received body; MalformedMessage says precisely what is wrong with it."""
    try:
        document = json.loads(body.decode("utf-8"))
        # "\ud800" escapes decode to lone surrogates, which no UTF-8 column can hold.
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except (UnicodeError, ValueError, RecursionError) as exc:
        raise MalformedMessage(f"body is not JSON in UTF-8: {exc}") from exc
    if not isinstance(document, dict):
        raise MalformedMessage("body is not a JSON object")
    message_id = document.get("id") or message_id_property
    if not is_usable_id(message_id):
        raise MalformedMessage("no message id (a string of 1-200 characters, no NUL)")
    message_type = document.get("type")
    if not is_usable_id(message_type, max_length=100):
        raise MalformedMessage("no message type")
    version = document.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= 32767:
        raise MalformedMessage("version is not a positive integer")
    payload = document.get("payload")
    if not isinstance(payload, dict):
        raise MalformedMessage("payload is not a JSON object")
    headers = document.get("headers") or {}
    if not isinstance(headers, dict):
        raise MalformedMessage("headers is not a JSON object")
    return Envelope(
        id=message_id,
        type=message_type,
        version=version,
        payload=payload,
        source=str(document.get("source", "")),
        occurred_at=str(document.get("occurred_at", "")),
        headers=headers,
    )


def malformed_message_id(body: bytes, message_id_property: str | None) -> str:
    """An id for a message that brought none usable: the same bytes get the same id, so a
    redelivered piece of garbage is parked once."""
    if is_usable_id(message_id_property):
        return message_id_property
    return f"malformed-{hashlib.sha256(body).hexdigest()}"


def printable_body(body: bytes) -> str:
    return body[:RAW_BODY_LIMIT].decode("utf-8", errors="replace").replace("\x00", "\ufffd")
