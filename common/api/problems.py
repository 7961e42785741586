"""RFC 9457 problem details: the one shape of every API error.

    {"type": "urn:problem:validation-error", "title": "Invalid request", "status": 400,
     "detail": "...", "instance": "/accounts/deposit", "errors": {"amount": ["..."]}}

`problem_exception_handler` covers everything raised inside a DRF view; the `handler*`
views cover what Django answers before or outside DRF (unknown URL, bad Host, a body over
the size limit, an unexpected exception), so no client ever receives an HTML error page.
"""

import logging
import sys
from http import HTTPStatus

from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from common.errors import ApplicationError

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

# Problem codes are DRF's default codes in kebab case; these two read better renamed.
_RENAMED_CODES = {"invalid": "validation-error", "parse_error": "malformed-request"}

# The database went away under the request (a restart, a failover, a killed connection) or
# gave up on it (a deadlock, a serialization failure). Not a bug, and the client can retry:
# a 503, not a 500. The transaction was rolled back; only a connection lost during COMMIT
# leaves the outcome unknown, which a retry with the same Idempotency-Key settles (it gets
# the stored response if the commit went through).
DATABASE_OUTAGES = (OperationalError, InterfaceError)
DATABASE_UNAVAILABLE = {
    "code": "database-unavailable",
    "title": HTTPStatus.SERVICE_UNAVAILABLE.phrase,
    "detail": "The database is unavailable. Retry shortly, with the same Idempotency-Key.",
}


def problem(
    *,
    status_code: int,
    code: str,
    title: str,
    detail: str,
    instance: str | None = None,
    **extensions,
) -> dict:
    body = {
        "type": f"urn:problem:{code}",
        "title": title,
        "status": status_code,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return body


def _drf_problem(exc: exceptions.APIException, instance: str | None) -> dict:
    default_code = getattr(exc, "default_code", "error")
    code = _RENAMED_CODES.get(default_code, default_code).replace("_", "-")
    title = HTTPStatus(exc.status_code).phrase
    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return problem(
            status_code=exc.status_code,
            code=code,
            title=title,
            detail="One or more fields are invalid.",
            instance=instance,
            errors=errors,
        )
    return problem(
        status_code=exc.status_code,
        code=code,
        title=title,
        detail=str(exc.detail),
        instance=instance,
    )


def problem_exception_handler(exc: Exception, context: dict) -> Response:
    request = context.get("request")
    instance = request.path if request is not None else None
    headers = {}

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, ApplicationError):
        status_code = exc.status_code
        body = problem(
            status_code=status_code,
            code=exc.code,
            title=exc.title,
            detail=exc.detail,
            instance=instance,
        )
    elif isinstance(exc, exceptions.APIException):
        status_code = exc.status_code
        body = _drf_problem(exc, instance)
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
    elif isinstance(exc, DATABASE_OUTAGES):
        logger.warning("Database unavailable for %s: %s", instance, exc)
        status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        body = problem(status_code=status_code, instance=instance, **DATABASE_UNAVAILABLE)
        headers["Retry-After"] = "1"
    else:
        # A bug, not the client's fault: log it with the traceback, answer in the same shape.
        logger.error("Unhandled exception in %s", instance, exc_info=exc)
        status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
        body = problem(
            status_code=status_code,
            code="server-error",
            title=HTTPStatus(status_code).phrase,
            detail="The server failed to handle the request; it is logged.",
            instance=instance,
        )

    set_rollback()
    return Response(body, status=status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def problem_json_response(request, status_code: int, code: str, detail: str, **extensions):
    body = problem(
        status_code=status_code,
        code=code,
        title=HTTPStatus(status_code).phrase,
        detail=detail,
        instance=request.path,
        **extensions,
    )
    return JsonResponse(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)


# Django's own error views (wired as handler400/403/404/500 in each urls.py).


def bad_request(request, exception=None):
    # Django lands here for a disallowed Host, a body over DATA_UPLOAD_MAX_MEMORY_SIZE and
    # other SuspiciousOperations; the precise reason goes to the log, not to the client.
    return problem_json_response(request, 400, "bad-request", "The request is invalid.")


def permission_denied(request, exception=None):
    return problem_json_response(request, 403, "forbidden", "Access is denied.")


def page_not_found(request, exception=None):
    return problem_json_response(request, 404, "not-found", f"No endpoint at {request.path}.")


def server_error(request):
    # Django calls this inside its exception handling: sys.exception() is what went wrong
    # outside the DRF views (a middleware, say).
    if isinstance(exc := sys.exception(), DATABASE_OUTAGES):
        logger.warning("Database unavailable for %s: %s", request.path, exc)
        response = JsonResponse(
            problem(status_code=503, instance=request.path, **DATABASE_UNAVAILABLE),
            status=503,
            content_type=PROBLEM_CONTENT_TYPE,
        )
        response["Retry-After"] = "1"
        return response
    return problem_json_response(
        request, 500, "server-error", "The server failed to handle the request; it is logged."
    )
