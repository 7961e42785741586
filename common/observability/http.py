"""One request, observed: its id, its span, its metrics and its access log line.

The request id: the gateway keeps a client's `X-Request-Id` only if it is short and plain
(letters, digits, `.`, `_`, `-`, at most 64), else makes one; the services keep the one the
gateway sends. It is echoed on the response, available as `request.request_id`, bound into
every log line the request's work writes, and recorded in the headers of the events the
request records, so one id follows an order across services (docs/observability.md).
"""

import logging
import re
import time
import uuid

from common.observability import context, metrics, tracing
from common.observability.traceparent import TRACEPARENT_HEADER

REQUEST_ID_HEADER = "X-Request-Id"
_PLAIN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}", re.ASCII)
# Methods beyond these are counted as "other": a label must not take any value a client sends.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Paths probed every few seconds by supervisors and Prometheus: their lines are DEBUG.
QUIET_ROUTES = frozenset({"healthz", "readyz", "metrics"})

access_log = logging.getLogger("shop.access")


def request_id_of(request) -> str:
    return getattr(request, "request_id", None) or uuid.uuid4().hex


def accepted_request_id(supplied: str) -> str:
    return supplied if _PLAIN_ID.fullmatch(supplied) else uuid.uuid4().hex


class ObservabilityMiddleware:
    """The outermost middleware of every web process."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        request.request_id = accepted_request_id(request.headers.get(REQUEST_ID_HEADER, ""))
        method = request.method if request.method in _METHODS else "other"
        with (
            context.bound(request_id=request.request_id),
            tracing.span(
                method, kind="server", parent=request.headers.get(TRACEPARENT_HEADER)
            ) as span,
        ):
            response = self.get_response(request)
            route = route_of(request)
            span.rename(f"{method} {route}")
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_error(f"HTTP {response.status_code}")
            elapsed = time.perf_counter() - started
            metrics.http_requests.labels(route, method, str(response.status_code)).inc()
            metrics.http_request_duration.labels(route, method).observe(elapsed)
            access_log.log(
                logging.DEBUG if route in QUIET_ROUTES else logging.INFO,
                "%s %s %d %.1fms",
                request.method[:16],
                request.path[:200],
                response.status_code,
                elapsed * 1000,
            )
        response[REQUEST_ID_HEADER] = request.request_id
        return response


def route_of(request) -> str:
    """The URL pattern that answered (`orders/<uuid:order_id>`), never the raw path: a
    label must not take a value per order. "unmatched" for a path no pattern took."""
    match = getattr(request, "resolver_match", None)
    return (match.route or match.view_name or "unmatched") if match else "unmatched"
