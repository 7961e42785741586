"""The sample messages the messaging tests send to themselves."""

from rest_framework import serializers

from common.messaging import MessageType


class SamplePayload(serializers.Serializer):
    value = serializers.IntegerField()


SAMPLE_CREATED = MessageType("sample.created", queue="samples", payload=SamplePayload)
# Its handler writes, then raises: every attempt fails.
SAMPLE_POISON = MessageType("sample.poison", queue="samples", payload=SamplePayload)
# Sent to a queue the tests make the broker refuse (a nack).
SAMPLE_REFUSED = MessageType("sample.refused", queue="refusals", payload=SamplePayload)
# No handler until a test registers one: a type deployed before its receiver.
SAMPLE_FUTURE = MessageType("sample.future", queue="samples", payload=SamplePayload)
# Its handler writes a Note whose effect does not exist: a deferred constraint's violation.
SAMPLE_ORPHAN = MessageType("sample.orphan", queue="samples", payload=SamplePayload)
# Sent to a queue the tests declare first with other arguments: the broker closes the
# publishing channel over it (PRECONDITION_FAILED).
SAMPLE_MISDECLARED = MessageType("sample.misdeclared", queue="misdeclared", payload=SamplePayload)
