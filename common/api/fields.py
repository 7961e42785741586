"""Serializer fields for the values the contract defines once for every service."""

import re
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1000000000.00")
DECIMAL_STRING = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?", re.ASCII)


@extend_schema_field(
    {
        "type": "string",
        "format": "decimal",
        "pattern": r"^[0-9]+(\.[0-9]{1,2})?$",
        "example": "100.00",
        "description": "Money, > 0 with at most 2 decimal places; a JSON number is accepted too.",
    }
)
class MoneyField(serializers.Field):
    """An amount of money: greater than zero, at most two decimal places, at most MAX_AMOUNT.

    Accepts a JSON number or a string of digits ("100", "100.5", "100.50"); rejects booleans,
    NaN, infinities, exponents beyond the bound, blanks, objects and arrays. Returned as a
    string with exactly two places ("100.00").
    """

    default_error_messages = {
        "invalid": 'Enter an amount as a number or a decimal string, like 100 or "100.50".',
        "not_positive": "The amount must be greater than zero.",
        "too_large": f"The amount must be at most {MAX_AMOUNT}.",
        "too_precise": "The amount can have at most two decimal places.",
    }

    def to_internal_value(self, data) -> Decimal:
        # bool is a subclass of int: `true` must not mean 1.
        if isinstance(data, bool) or not isinstance(data, int | Decimal | str):
            self.fail("invalid")
        # A string is plain digits: no sign, exponent, blanks, "NaN" or "Infinity".
        if isinstance(data, str) and not DECIMAL_STRING.fullmatch(data):
            self.fail("invalid")
        amount = Decimal(data)
        if not amount.is_finite():
            self.fail("invalid")
        # Bounds first: quantizing 1e999999 would raise instead of failing cleanly.
        if amount <= 0:
            self.fail("not_positive")
        if amount > MAX_AMOUNT:
            self.fail("too_large")
        if amount != amount.quantize(CENT):
            self.fail("too_precise")
        return amount.quantize(CENT)

    def to_representation(self, value) -> str:
        return str(Decimal(value).quantize(CENT))


class TextField(serializers.CharField):
    """A string and nothing else: DRF's CharField would turn 42 into "42"."""

    default_error_messages = {"invalid": "Enter a string."}

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)
