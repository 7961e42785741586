"""OpenAPI building blocks shared by the services' schemas (drf-spectacular).

Every error is documented as it is served: `application/problem+json` with the Problem
schema, one response per status, with an example per problem `type` the operation can
answer. The gateway adds what it answers itself (gateway/openapi_build.py).
"""

from dataclasses import dataclass
from http import HTTPStatus

from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from common.api.fields import CENT, MAX_AMOUNT
from common.api.headers import IDEMPOTENCY_KEY_HEADER, USER_ID_HEADER
from common.api.problems import DATABASE_UNAVAILABLE, PROBLEM_CONTENT_TYPE


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
        help_text="Field, header or query parameter -> messages, for validation errors.",
    )


# Request headers.

USER_ID_PARAMETER = OpenApiParameter(
    name=USER_ID_HEADER,
    location=OpenApiParameter.HEADER,
    required=True,
    type={"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
    description="The calling user: 1-64 letters, digits, '-', '_' or '.'.",
    examples=[OpenApiExample("uuid", value="8d3f1c2e-7a4b-4e59-9c1d-2f6e8a9b0c11")],
)

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name=IDEMPOTENCY_KEY_HEADER,
    location=OpenApiParameter.HEADER,
    required=False,
    type={"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
    description=(
        "Makes a retry safe: a repeat with the same key and body returns the first response "
        "(with `Idempotent-Replayed: true`) and has no second effect; the same key with another "
        "request is a 422, and while the first request with the key is still running a 409. "
        "1-255 visible ASCII characters, scoped to the caller, kept at least 24 hours."
    ),
    examples=[OpenApiExample("key", value="a3f9c2e1-7b4d-4e8a-9f10-2b6c8d4e5a71")],
)


# Response headers (drf-spectacular documents an OpenApiParameter with `response` as a
# header of those responses).


def response_header(
    name: str, statuses: list[int], description: str, *, required: bool = False, **schema
) -> OpenApiParameter:
    """A string header of the responses with these statuses (`schema`: more keywords)."""
    return OpenApiParameter(
        name=name,
        location=OpenApiParameter.HEADER,
        response=statuses,
        required=required,
        type={"type": "string", **schema},
        description=description,
    )


# Error responses.


@dataclass(frozen=True)
class ProblemDoc:
    """One kind of problem an operation can answer: its status, its `type` (after
    `urn:problem:`), when it happens, and an example body's title and detail."""

    status: int
    code: str
    when: str
    detail: str
    title: str = ""

    def example_value(self) -> dict:
        return {
            "type": f"urn:problem:{self.code}",
            "title": self.title or HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
        }


VALIDATION_ERROR = ProblemDoc(
    400,
    "validation-error",
    "a field, header or query parameter is missing, invalid, unknown or repeated "
    "(`errors` names it)",
    "One or more fields are invalid.",
)
MALFORMED_REQUEST = ProblemDoc(
    400,
    "malformed-request",
    "the body is not valid JSON",
    "The request body is not valid JSON: Expecting value: line 1 column 1 (char 0)",
)
NOT_ACCEPTABLE = ProblemDoc(
    406,
    "not-acceptable",
    "the Accept header names no type the API answers with (application/json)",
    "Could not satisfy the request Accept header.",
)
UNSUPPORTED_MEDIA_TYPE = ProblemDoc(
    415,
    "unsupported-media-type",
    "a body that is not application/json",
    'Unsupported media type "text/plain" in request.',
)
SERVICE_DATABASE_UNAVAILABLE = ProblemDoc(
    503,
    DATABASE_UNAVAILABLE["code"],
    "the service lost its database mid-request (with `Retry-After: 1`)",
    DATABASE_UNAVAILABLE["detail"],
)

# What every operation of a service can answer, whatever it does.
EVERY_OPERATION = (VALIDATION_ERROR, NOT_ACCEPTABLE, SERVICE_DATABASE_UNAVAILABLE)
# ... and an operation that reads a JSON body besides.
JSON_BODY = (MALFORMED_REQUEST, UNSUPPORTED_MEDIA_TYPE)


def problem_response(*problems: ProblemDoc) -> OpenApiResponse:
    """One status's response: the Problem schema, with an example per kind of problem."""
    phrase = HTTPStatus(problems[0].status).phrase
    return OpenApiResponse(
        response=ProblemSerializer,
        description=f"{phrase}: " + "; ".join(f"`{p.code}` when {p.when}" for p in problems) + ".",
        examples=[
            OpenApiExample(
                p.code,
                value=p.example_value(),
                response_only=True,
                status_codes=[str(p.status)],
                media_type=PROBLEM_CONTENT_TYPE,
            )
            for p in problems
        ],
    )


def problem_responses(*problems: ProblemDoc, body: bool = False) -> dict:
    """`extend_schema(responses=...)` entries for an operation's problems (with those of
    EVERY_OPERATION, and JSON_BODY when it reads a body), keyed by (status, media type)."""
    by_status: dict[int, list[ProblemDoc]] = {}
    for problem in (*EVERY_OPERATION, *(JSON_BODY if body else ()), *problems):
        by_status.setdefault(problem.status, []).append(problem)
    return {
        (status, PROBLEM_CONTENT_TYPE): problem_response(*group)
        for status, group in sorted(by_status.items())
    }


# Schemas of the shared serializer fields and serializers.


class MoneyFieldExtension(OpenApiSerializerFieldExtension):
    """Money as the API reads it (a decimal string or a JSON number) and as it writes it (a
    string with exactly two places): a request accepting a number that its schema said
    must be a string would be a lie a client or a fuzzer finds."""

    target_class = "common.api.fields.MoneyField"

    def map_serializer_field(self, auto_schema, direction):
        if direction == "request":
            return {
                "oneOf": [
                    # Leading zeros aside, at most 10 digits before the point (1000000000).
                    {"type": "string", "pattern": "^0*[0-9]{1,10}(\\.[0-9]{1,2})?$"},
                    {
                        "type": "number",
                        "minimum": 0,
                        "exclusiveMinimum": True,
                        "maximum": float(MAX_AMOUNT),
                        "multipleOf": float(CENT),
                    },
                ],
                "example": "100.00",
                "description": (
                    f"An amount greater than 0 and at most {MAX_AMOUNT} with at most two "
                    'decimal places, as a decimal string ("100", "100.50") or a JSON number.'
                ),
            }
        return {
            "type": "string",
            "format": "decimal",
            "pattern": "^[0-9]+\\.[0-9]{2}$",
            "example": "100.00",
            "description": "An amount of money, as a decimal string with two places.",
        }


class StrictSerializerExtension(OpenApiSerializerExtension):
    """A StrictSerializer refuses unknown fields (400): its schema says so."""

    target_class = "common.api.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {**schema, "additionalProperties": False}
