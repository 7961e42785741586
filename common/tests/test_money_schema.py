"""MoneyField and its documented request schema agree: whatever the schema calls invalid,
the field refuses (what Schemathesis's negative_data_rejection holds the API to), and what
the field accepts, the schema allows."""

import json
from decimal import Decimal

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

from common.api.fields import MoneyField
from common.api.schema import MoneyFieldExtension

# OpenAPI 3.0 schemas are Draft 4 (a boolean exclusiveMinimum).
SCHEMA = jsonschema_rs.Draft4Validator(
    MoneyFieldExtension(MoneyField()).map_serializer_field(None, "request")
)


def accepted(value) -> bool:
    # As the API reads a body: JSON numbers with a fraction or exponent become Decimal.
    parsed = json.loads(json.dumps(value), parse_float=Decimal)
    try:
        MoneyField().to_internal_value(parsed)
    except ValidationError:
        return False
    return True


amounts = st.one_of(
    st.text(alphabet="0123456789.", max_size=25),
    st.from_regex(r"\A0*[0-9]{1,10}(\.[0-9]{1,3})?\Z"),
    st.integers(min_value=-5, max_value=2_000_000_000),
    st.floats(min_value=-1, max_value=2e9, allow_nan=False),
    st.decimals(min_value=0, max_value=2_000_000_000, places=2).map(float),
    st.sampled_from([None, True, False, "", " 1", "1 ", "1e2", [], {}]),
)


@settings(max_examples=2000, deadline=None, database=None, derandomize=True)
@given(amounts)
def test_what_the_schema_refuses_the_field_refuses(value):
    if accepted(value):
        assert SCHEMA.is_valid(value), value


@pytest.mark.parametrize(
    "value", ["1", "100.5", "100.50", "0.01", "1000000000", "007.10", 1, 0.5, 1000000000]
)
def test_amounts_the_field_accepts_are_valid_in_the_schema(value):
    assert accepted(value)
    assert SCHEMA.is_valid(value)
