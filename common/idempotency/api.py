"""The view side of Idempotency-Key: one call wraps an endpoint's effect."""

from collections.abc import Callable

from rest_framework.response import Response

from common.api.headers import idempotency_key
from common.api.schema import ProblemDoc, response_header
from common.idempotency.services import (
    IdempotencyKeyBusy,
    IdempotencyKeyReused,
    StoredResponse,
    idempotent_call,
    request_fingerprint,
)

REPLAYED_HEADER = "Idempotent-Replayed"

# How an endpoint that honours Idempotency-Key documents it (with IDEMPOTENCY_KEY_PARAMETER).
IDEMPOTENCY_PROBLEMS = (
    ProblemDoc(
        IdempotencyKeyBusy.status_code,
        IdempotencyKeyBusy.code,
        "the first request with this Idempotency-Key is still running; retry",
        "The Idempotency-Key is in use by another request; retry.",
        title=IdempotencyKeyBusy.title,
    ),
    ProblemDoc(
        IdempotencyKeyReused.status_code,
        IdempotencyKeyReused.code,
        "the Idempotency-Key was used with a different request",
        "This Idempotency-Key was already used with a different request.",
        title=IdempotencyKeyReused.title,
    ),
)


def replayed_header(status: int):
    """The response header that marks a replayed answer, for an endpoint's `status`."""
    return response_header(
        REPLAYED_HEADER,
        [status],
        "`true` when this is the stored response of an earlier request with the same "
        "Idempotency-Key (the request had no second effect); absent otherwise.",
        enum=["true"],
    )


def respond_idempotently(
    request, *, user_id: str, payload: dict, perform: Callable[[str | None], StoredResponse]
) -> Response:
    """Answer a POST whose effect `perform(key)` must happen once per Idempotency-Key.

    `payload` is the validated request body; together with the method and path it tells a
    true retry (replayed) from a different request reusing the key (422). Without the header
    the request simply runs.
    """
    key = idempotency_key(request)
    if key is None:
        result = perform(None)
    else:
        fingerprint = request_fingerprint(
            endpoint=f"{request.method} {request.path}", payload=payload
        )
        result = idempotent_call(
            user_id=user_id, key=key, fingerprint=fingerprint, perform=lambda: perform(key)
        )
    headers = dict(result.headers)
    if result.replayed:
        headers[REPLAYED_HEADER] = "true"
    return Response(result.body, status=result.status, headers=headers)
