from rest_framework import serializers


class StrictSerializer(serializers.Serializer):
    """A request serializer that refuses unknown fields instead of silently ignoring them,
    so a client cannot believe it set something (a balance, a status) that it did not."""

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return attrs
