"""The gateway's own endpoints: probes and the public API's documentation."""

import logging
from functools import cache
from pathlib import Path

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from common.api.problems import problem_json_response
from gateway_project.gateway import auth, upstream

logger = logging.getLogger(__name__)

OPENAPI_FILE = Path(__file__).with_name("openapi.json")


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    """Ready when every upstream says it is ready (its database answers)."""
    checks = {name: _upstream_ready(name) for name in settings.UPSTREAMS}
    if all(state == "ok" for state in checks.values()):
        return JsonResponse({"status": "ready", "checks": checks})
    down = ", ".join(name for name, state in checks.items() if state != "ok")
    return problem_json_response(request, 503, "not-ready", f"Not ready: {down}.", checks=checks)


def _upstream_ready(name: str) -> str:
    try:
        answer = upstream.call(name, "GET", "/readyz", headers={}, body=None)
    except (upstream.UpstreamUnavailable, upstream.UpstreamTimeout) as exc:
        logger.warning("Readiness: %s unreachable: %s", name, exc)
        return "unreachable"
    return "ok" if answer.status == 200 else f"not ready ({answer.status})"


@cache
def _openapi_document() -> bytes:
    return OPENAPI_FILE.read_bytes()


def openapi(request):
    """The public API as the gateway serves it (gateway/openapi.json, built from the
    services' own schemas by `manage.py build_openapi`), with the authentication of the
    mode it runs in (in jwt mode a bearer token instead of X-User-Id)."""
    document = auth.openapi_for_mode(_openapi_document(), settings.GATEWAY_AUTH)
    return HttpResponse(document, content_type="application/json")
