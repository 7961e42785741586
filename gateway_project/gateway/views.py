"""The gateway's own endpoints: probes and the public API's documentation."""

import logging
import threading
import time
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
    """Ready when every upstream says it is ready (its database answers). Not rate limited,
    so the answer is kept for READYZ_CACHE_SECONDS: however often it is called, each
    process asks the services (which ask their databases) at most once a second."""
    checks = _readiness()
    if all(state == "ok" for state in checks.values()):
        return JsonResponse({"status": "ready", "checks": checks})
    down = ", ".join(name for name, state in checks.items() if state != "ok")
    return problem_json_response(request, 503, "not-ready", f"Not ready: {down}.", checks=checks)


READYZ_CACHE_SECONDS = 1.0
_readiness_lock = threading.Lock()
# The upstreams asked -> (until when the answer holds, each service's state).
_readiness_cache: dict[tuple, tuple[float, dict[str, str]]] = {}


def _readiness() -> dict[str, str]:
    """Each service's state, asked anew once the last answer is READYZ_CACHE_SECONDS old.
    One thread asks; the others wait for its answer instead of asking too."""
    upstreams = tuple(sorted(settings.UPSTREAMS.items()))
    with _readiness_lock:
        held_until, checks = _readiness_cache.get(upstreams, (0.0, {}))
        if time.monotonic() >= held_until:
            checks = {name: _upstream_ready(name) for name, _ in upstreams}
            _readiness_cache.clear()
            _readiness_cache[upstreams] = (time.monotonic() + READYZ_CACHE_SECONDS, checks)
        return dict(checks)


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
