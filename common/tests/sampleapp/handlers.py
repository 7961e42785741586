"""Handlers of the sample messages the messaging tests send to themselves."""

from common.messaging import Event, handles
from common.tests.sampleapp.contracts import SAMPLE_CREATED, SAMPLE_POISON
from common.tests.sampleapp.models import Effect


@handles(SAMPLE_CREATED)
def record_effect(event: Event) -> None:
    Effect.objects.create(message_id=event.message_id, value=event.payload["value"])


@handles(SAMPLE_POISON)
def always_fail(event: Event) -> None:
    # Writes first, then fails: the rollback must take the write away with it.
    Effect.objects.create(message_id=event.message_id, value=-1)
    raise RuntimeError(f"poison message {event.payload}")
