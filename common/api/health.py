"""Liveness and readiness probes, outside the user API (no X-User-Id)."""

import logging

from django.db import DatabaseError, connection
from django.http import JsonResponse

from common.api.problems import problem_json_response

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
        return problem_json_response(
            request, 503, "not-ready", "The database does not answer.", checks={"database": "down"}
        )
    return JsonResponse({"status": "ready", "checks": {"database": "ok"}})
