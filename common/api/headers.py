"""The request headers of the contract: who calls (X-User-Id) and idempotency (Idempotency-Key)."""

import re

from rest_framework.exceptions import ValidationError

USER_ID_HEADER = "X-User-Id"
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"

# An opaque id: UUIDs, integers and other ids of letters, digits, "-", "_" and ".".
USER_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}", re.ASCII)
# Stripe allows keys of up to 255 characters; visible ASCII keeps them loggable.
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}", re.ASCII)


def caller_user_id(request) -> str:
    """The caller's user id, or a 400 naming the header when it is missing or malformed."""
    value = request.headers.get(USER_ID_HEADER)
    if value is None:
        raise ValidationError({USER_ID_HEADER: ["This header is required."]})
    if not USER_ID_PATTERN.fullmatch(value):
        raise ValidationError(
            {
                USER_ID_HEADER: [
                    "Use 1 to 64 characters of letters, digits, '-', '_' and '.'.",
                ]
            }
        )
    return value


def idempotency_key(request) -> str | None:
    """The Idempotency-Key header if the client sent one; a 400 when it is malformed."""
    value = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if value is None:
        return None
    if not IDEMPOTENCY_KEY_PATTERN.fullmatch(value):
        raise ValidationError({IDEMPOTENCY_KEY_HEADER: ["Use 1 to 255 visible ASCII characters."]})
    return value
