"""Serializer fields for the values the contract defines once for every service."""

import re
from decimal import Decimal

from rest_framework import serializers

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1000000000.00")
DECIMAL_STRING = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?", re.ASCII)
QUERY_INTEGER = re.compile(r"[0-9]{1,9}", re.ASCII)


class MoneyField(serializers.Field):
    """An amount of money: greater than zero, at most two decimal places, at most MAX_AMOUNT.

    Accepts a JSON number or a string of digits ("100", "100.5", "100.50"); rejects booleans,
    NaN, infinities, exponents beyond the bound, blanks, objects and arrays, and a string
    with a third decimal place even if it is a zero ("100.500"), as the documented pattern
    says. Returned as a string with exactly two places ("100.00"). Its OpenAPI schema is in
    common/api/schema.py (MoneyFieldExtension).
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
        if isinstance(data, str):
            if not DECIMAL_STRING.fullmatch(data):
                self.fail("invalid")
            if len(data.partition(".")[2]) > 2:
                self.fail("too_precise")
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
    """A string and nothing else: DRF's CharField would turn 42 into "42".

    `max_length` bounds the string as sent, as the documented maxLength does; DRF's CharField
    would check it after trimming the surrounding whitespace, and so accept a longer string.
    """

    default_error_messages = {"invalid": "Enter a string."}

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class QueryIntegerField(serializers.IntegerField):
    """A whole number in a query string, as its documented schema says: ASCII digits only.

    DRF's IntegerField also takes "2.0", "+2", " 2" and other scripts' digits ("٢").
    """

    def to_internal_value(self, data) -> int:
        if not (isinstance(data, str) and QUERY_INTEGER.fullmatch(data)):
            self.fail("invalid")
        return super().to_internal_value(data)
