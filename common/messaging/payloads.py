"""Validating a message's payload with a DRF serializer, in a handler."""

from rest_framework import serializers

from common.messaging.events import PermanentFailure


def validated_payload(serializer_class: type[serializers.Serializer], payload: dict) -> dict:
    """The payload's validated data; a payload that does not fit is a permanent failure
    (retrying cannot fix it), so the message is parked at once with the reasons."""
    serializer = serializer_class(data=payload)
    if not serializer.is_valid():
        raise PermanentFailure(f"invalid payload: {serializer.errors}")
    return serializer.validated_data
