"""The only request parser of the API: JSON, parsed exactly and bounded in size.

- Numbers with a fraction or exponent become `Decimal`, never `float`, so "10.10" and 10.10
  mean the same amount and no binary rounding ever reaches money.
- NaN and Infinity, which Python's json module accepts by default, are malformed JSON.
- A lone UTF-16 surrogate escape ("\ud800") is malformed too: no UTF-8 text can hold it, so
  it could neither be stored nor echoed back in an error message.
- A body larger than DATA_UPLOAD_MAX_MEMORY_SIZE is refused with 413 before it is parsed
  (DRF reads the stream itself, so Django's own limit does not apply to JSON bodies).
"""

import json
import re
from decimal import Decimal

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class StrictJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
        try:
            text = raw.decode("utf-8")
            data = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
            if SURROGATE_ESCAPE.search(text):
                # Rare: check the whole document (a valid pair is fine, a lone half is not).
                json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
        except (UnicodeError, ValueError, ArithmeticError, RecursionError) as exc:
            # ArithmeticError: decimal.InvalidOperation for a number like 1e99999999999999999999.
            raise ParseError(f"The request body is not valid JSON: {exc}") from exc
        return data
