"""Liveness and readiness probes, outside the user API (no X-User-Id)."""

import logging

from django.db import DatabaseError, connection
from django.http import JsonResponse

from common.api.problems import PROBLEM_CONTENT_TYPE, problem

logger = logging.getLogger(__name__)


def healthz(request):
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok"})


def readyz(request):
    """The service can do its work: its database answers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        logger.warning("Readiness check failed: database unreachable: %s", exc)
        body = problem(
            status_code=503,
            code="not-ready",
            title="Service Unavailable",
            detail="The database does not answer.",
            instance=request.path,
            checks={"database": "down"},
        )
        return JsonResponse(body, status=503, content_type=PROBLEM_CONTENT_TYPE)
    return JsonResponse({"status": "ready", "checks": {"database": "ok"}})
