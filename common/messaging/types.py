"""What a message is, for the services: its declared type, the event a handler receives,
and the failure no retry can fix. Free of models and of the broker, so a contracts module
can import it while Django loads its apps."""

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework import serializers


class PermanentFailure(Exception):
    """Raised by a handler for a message no retry can fix (say, a malformed payload): the
    message is parked as failed at once instead of after MAX_ATTEMPTS attempts."""


@dataclass(frozen=True)
class Event:
    """What a handler receives: one incoming message, already deduplicated by the inbox."""

    message_id: str
    type: str
    version: int
    payload: dict[str, Any]
    headers: dict[str, Any]


# Every declared type by name: the test fixtures purge the queues they go to.
_declared: dict[str, "MessageType"] = {}


@dataclass(frozen=True)
class MessageType:
    """A message type of the system, declared once (common/contracts.py) and imported by its
    producer (record_event) and its consumer (handles, validated): its name, the logical
    queue it travels on, its version and its payload's schema (a DRF serializer).

    `lock_order` names the payload fields in the order its handler takes its locks (Payments:
    the account of `user_id`, then the order): when a batch fails and its messages are handled
    one by one in the same transaction, they go in that order, so two consumers doing so take
    their locks in one order and never wait on each other in a circle."""

    name: str
    queue: str
    payload: type[serializers.Serializer]
    version: int = 1
    lock_order: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if _declared.setdefault(self.name, self) != self:
            raise ImproperlyConfigured(f"Message type {self.name!r} is declared twice.")

    def validated(self, event: Event) -> dict:
        """The event's validated payload. Another version, or a payload that does not fit,
        is a permanent failure (retrying cannot fix it): the message is parked at once with
        the reasons."""
        if event.version != self.version:
            raise PermanentFailure(f"unsupported version {event.version} of {event.type}")
        serializer = self.payload(data=event.payload)
        if not serializer.is_valid():
            raise PermanentFailure(f"invalid payload: {serializer.errors}")
        return serializer.validated_data


def in_lock_order(message_type: str, items: list, payload_of) -> list:
    """The items (rows, envelopes) of one type sorted by its lock_order fields; a payload
    that is no object sorts first (it fails validation without taking a lock)."""
    declared = _declared.get(message_type)
    if declared is None or not declared.lock_order:
        return items

    def key(item) -> tuple[str, ...]:
        payload = payload_of(item)
        if not isinstance(payload, dict):
            return ()
        return tuple(str(payload.get(field, "")) for field in declared.lock_order)

    return sorted(items, key=key)


def declared_queues() -> set[str]:
    """The logical queues of every message type declared so far."""
    return {message_type.queue for message_type in _declared.values()}
