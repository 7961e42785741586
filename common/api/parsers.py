"""The only request parser of the API: JSON, parsed exactly and bounded in size.

- Numbers with a fraction or exponent become `Decimal`, never `float`, so "10.10" and 10.10
  mean the same amount and no binary rounding ever reaches money.
- NaN and Infinity, which Python's json module accepts by default, are malformed JSON.
- A body larger than DATA_UPLOAD_MAX_MEMORY_SIZE is refused with 413 before it is parsed
  (DRF reads the stream itself, so Django's own limit does not apply to JSON bodies).
"""

import json
from decimal import Decimal

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


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
            return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ParseError(f"The request body is not valid JSON: {exc}") from exc
