"""Handlers of the sample messages the messaging tests send to themselves."""

from common.messaging.events import Event
from common.tests.sampleapp.models import Effect


def record_effect(event: Event) -> None:
    Effect.objects.create(message_id=event.message_id, value=event.payload["value"])


def always_fail(event: Event) -> None:
    # Writes first, then fails: the rollback must take the write away with it.
    Effect.objects.create(message_id=event.message_id, value=-1)
    raise RuntimeError(f"poison message {event.payload}")
