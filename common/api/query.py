"""Query parameters, read one way by every endpoint.

A parameter the endpoint does not know is refused (400), as an unknown body field is: a
client must not believe it filtered or sorted by something that was ignored. A known one
given twice (`?limit=1&limit=2`) is refused too, instead of silently taking the last value;
and a blank value (`?limit=`) is a value like any other, checked by its field, not taken
for an absent parameter (DRF's reading of form data).
"""

from django.http import QueryDict
from rest_framework import serializers
from rest_framework.exceptions import ValidationError


def validated_query(query: QueryDict, serializer_class: type[serializers.Serializer] | None):
    """The validated parameters of `query` (an empty dict for an endpoint without any)."""
    known = set(serializer_class().fields) if serializer_class is not None else set()
    errors = {}
    for name, values in query.lists():
        if name not in known:
            errors[name] = ["Unknown query parameter."]
        elif len(values) > 1:
            errors[name] = ["Give this query parameter once."]
    if errors:
        raise ValidationError(errors)
    if serializer_class is None:
        return {}
    serializer = serializer_class(data={name: values[0] for name, values in query.lists()})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
