"""OpenAPI building blocks shared by the services' schemas (drf-spectacular)."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from common.api.headers import IDEMPOTENCY_KEY_HEADER, USER_ID_HEADER


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details, the body of every error response."""

    type = serializers.CharField(help_text="A URN naming the kind of problem.")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    instance = serializers.CharField(required=False, help_text="The request path.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field name -> messages, for validation errors.",
    )


USER_ID_PARAMETER = OpenApiParameter(
    name=USER_ID_HEADER,
    location=OpenApiParameter.HEADER,
    required=True,
    type=str,
    description="The calling user: 1-64 letters, digits, '-', '_' or '.'.",
    examples=[OpenApiExample("uuid", value="8d3f1c2e-7a4b-4e59-9c1d-2f6e8a9b0c11")],
)

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name=IDEMPOTENCY_KEY_HEADER,
    location=OpenApiParameter.HEADER,
    required=False,
    type=str,
    description=(
        "Makes a retry safe: a repeat with the same key and body returns the first response "
        "(with `Idempotent-Replayed: true`) and has no second effect; the same key with another "
        "body is a 422. Scoped to the caller, kept at least 24 hours."
    ),
    examples=[OpenApiExample("key", value="deposit-2026-11-26-0001")],
)


def problem_response(description: str, status: int, code: str, detail: str) -> OpenApiResponse:
    """An error response documented with one example body."""
    return OpenApiResponse(
        response=ProblemSerializer,
        description=description,
        examples=[
            OpenApiExample(
                code,
                value={
                    "type": f"urn:problem:{code}",
                    "title": description,
                    "status": status,
                    "detail": detail,
                },
                response_only=True,
                status_codes=[str(status)],
            )
        ],
    )


BAD_REQUEST_RESPONSE = problem_response(
    "Bad Request", 400, "validation-error", "One or more fields are invalid."
)
IDEMPOTENCY_KEY_REUSED_RESPONSE = problem_response(
    "Unprocessable Content",
    422,
    "idempotency-key-reused",
    "This Idempotency-Key was already used with a different request.",
)
