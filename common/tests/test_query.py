"""common/api/query.py: one reading of query parameters for every endpoint."""

import pytest
from django.http import QueryDict
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from common.api.fields import QueryIntegerField
from common.api.query import validated_query


class PageQuery(serializers.Serializer):
    limit = QueryIntegerField(min_value=1, max_value=10, default=5)
    cursor = serializers.CharField(required=False)


def errors_of(query: str, serializer_class=PageQuery) -> dict:
    with pytest.raises(ValidationError) as caught:
        validated_query(QueryDict(query), serializer_class)
    return caught.value.detail


def test_known_parameters_given_once_are_validated_with_defaults():
    assert validated_query(QueryDict("cursor=abc"), PageQuery) == {"limit": 5, "cursor": "abc"}
    assert validated_query(QueryDict("limit=10"), PageQuery) == {"limit": 10}


def test_a_repeated_parameter_is_refused_by_name():
    errors = errors_of("limit=0.0&limit=false&limit=")

    assert list(errors) == ["limit"]
    assert "once" in str(errors["limit"][0])


def test_an_unknown_parameter_is_refused_by_name():
    assert list(errors_of("limit=2&status=NEW")) == ["status"]


def test_an_endpoint_without_parameters_refuses_any():
    assert validated_query(QueryDict(""), None) == {}
    assert list(errors_of("x=1", None)) == ["x"]


@pytest.mark.parametrize("value", ["", "2.0", "+2", "-1", "\u0662", "0x10", "9" * 10])
def test_blank_and_non_digit_integers_are_refused(value):
    assert list(errors_of(f"limit={value}")) == ["limit"]
