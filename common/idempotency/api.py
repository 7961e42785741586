"""The view side of Idempotency-Key: one call wraps an endpoint's effect."""

from collections.abc import Callable

from rest_framework.response import Response

from common.api.headers import idempotency_key
from common.idempotency.services import StoredResponse, idempotent_call, request_fingerprint

REPLAYED_HEADER = "Idempotent-Replayed"


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
