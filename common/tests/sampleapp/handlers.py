"""Handlers of the sample messages the messaging tests send to themselves."""

from common.messaging import Event, handles
from common.tests.sampleapp.contracts import SAMPLE_CREATED, SAMPLE_ORPHAN, SAMPLE_POISON
from common.tests.sampleapp.models import Effect, Note


@handles(SAMPLE_CREATED)
def record_effect(events: list[Event]) -> None:
    # One row per message: a value that is not a number fails the whole batch's insert,
    # and then each message alone.
    Effect.objects.bulk_create(
        Effect(message_id=event.message_id, value=event.payload["value"]) for event in events
    )


@handles(SAMPLE_POISON)
def always_fail(events: list[Event]) -> None:
    # Writes first, then fails: the rollback must take the write away with it.
    Effect.objects.bulk_create(Effect(message_id=event.message_id, value=-1) for event in events)
    raise RuntimeError(f"poison message {[event.payload for event in events]}")


@handles(SAMPLE_ORPHAN)
def note_a_missing_effect(events: list[Event]) -> None:
    Note.objects.bulk_create(Note(effect_id=-event.payload["value"]) for event in events)
