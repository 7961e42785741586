"""Validating a message's payload with a DRF serializer, in a handler."""

from rest_framework import serializers

from common.messaging.events import Event, PermanentFailure


def validated_payload(
    serializer_class: type[serializers.Serializer], event: Event, *, versions=(1,)
) -> dict:
    """The event's validated payload. A version the handler does not know, or a payload
    that does not fit, is a permanent failure (retrying cannot fix it): the message is
    parked at once with the reasons."""
    if event.version not in versions:
        raise PermanentFailure(f"unsupported version {event.version} of {event.type}")
    serializer = serializer_class(data=event.payload)
    if not serializer.is_valid():
        raise PermanentFailure(f"invalid payload: {serializer.errors}")
    return serializer.validated_data
