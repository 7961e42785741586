"""Forwarding one request along its route, and shaping the answer."""

import logging
from urllib.parse import parse_qsl, urlencode, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from common.api.headers import USER_ID_HEADER
from common.api.internal import INTERNAL_TOKEN_HEADER
from common.api.problems import problem_json_response
from common.observability.http import REQUEST_ID_HEADER
from gateway_project.gateway import auth, live, ratelimit, upstream
from gateway_project.gateway.routes import Route

logger = logging.getLogger(__name__)

# What a client may tell a service; everything else (cookies, hop-by-hop headers, a
# forged internal token) stops here. X-User-Id is the caller auth.caller() names.
FORWARDED_REQUEST_HEADERS = ("Idempotency-Key", "Content-Type", "Accept")
# What a service may tell a client.
RETURNED_RESPONSE_HEADERS = (
    "Content-Type", "Location", "Link", "Allow", "Retry-After", "Idempotent-Replayed",
)  # fmt: skip


def route_view(route: Route):
    @csrf_exempt
    def view(request: HttpRequest, **kwargs) -> HttpResponse:
        return forward(request, route, kwargs)

    view.__name__ = f"proxy_{route.name.replace('-', '_')}"
    return view


def forward(request: HttpRequest, route: Route, kwargs: dict) -> HttpResponse:
    if request.method not in route.allowed_methods:
        allowed = ", ".join(route.allowed_methods)
        response = problem_json_response(request, 405, "method-not-allowed", f"Use {allowed}.")
        response["Allow"] = allowed
        return response
    if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        return problem_json_response(
            request, 411, "length-required", "Send the body with a Content-Length."
        )
    try:
        user_id = auth.caller(request)
    except auth.Refused as refusal:
        # A refused token still costs its address a token: a flood of bad tokens from one
        # address ends in 429s like any other flood.
        address_limit = ratelimit.check(request, user_id=None)
        if not address_limit.allowed:
            return address_limit.refusal(request)
        return refusal.response(request)
    # Counted on the user the services will see (after authentication) and the address.
    rate_limit = ratelimit.check(request, user_id=user_id)
    if not rate_limit.allowed:
        return rate_limit.refusal(request)
    body = _read_body(request)
    if body is None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return problem_json_response(
            request, 413, "payload-too-large", f"The body exceeds {limit} bytes."
        )
    path = route.upstream_path(**kwargs)
    query = request.META.get("QUERY_STRING", "")
    waits = route.waits and "wait" in request.GET
    if waits:
        wait_seconds = live.wait_seconds_of(request.GET.getlist("wait"))
        if wait_seconds is None:
            return problem_json_response(
                request,
                400,
                "validation-error",
                f"`wait` must be given once: seconds, from 0 to {live.MAX_WAIT_SECONDS}.",
                errors={"wait": [f"A number from 0 to {live.MAX_WAIT_SECONDS}, given once."]},
            )
        # Orders knows no `wait` (and refuses unknown parameters): it stays here.
        query = urlencode(
            [pair for pair in parse_qsl(query, keep_blank_values=True) if pair[0] != "wait"]
        )
    try:
        headers = _forwarded_headers(request, user_id)
        if route.streams:  # the client accepts the stream; its reads are Orders' JSON
            headers.pop("Accept", None)

        def send() -> upstream.UpstreamResponse:
            return upstream.call(
                route.upstream,
                "GET" if route.streams else request.method,  # a stream reads its order
                f"{path}?{query}" if query else path,
                headers=headers,
                body=body or None,
                replayed_by_key=route.replays_by_idempotency_key and "Idempotency-Key" in headers,
            )

        bounds = live.bounds_of(user_id, ratelimit.client_address(request))
        if route.streams:
            answer = live.event_stream(
                live.hub(),
                kwargs["order_id"],
                send,
                last_event_id=request.headers.get("Last-Event-ID", "").strip(),
                lifetime=settings.GATEWAY_LIVE_STREAM_SECONDS,
                head=request.method == "HEAD",
                bounds=bounds,
            )
            if isinstance(answer, HttpResponseBase):  # the stream, or its 204
                return rate_limit.annotate(answer)
        elif waits:
            answer = live.long_poll(live.hub(), kwargs["order_id"], send, wait_seconds, bounds)
        else:
            answer = send()
    except live.TooManyWaiting as exc:
        response = problem_json_response(
            request,
            429,
            "too-many-waits",
            "Too many event streams and long-polls open at once for this caller"
            f" ({exc.holder.split(':', 1)[0]}): close one, or poll GET /orders/{{id}}.",
        )
        response["Retry-After"] = "5"
        return rate_limit.annotate(response)
    except upstream.UpstreamTimeout as exc:
        logger.warning("%s timed out on %s %s: %s", route.upstream, request.method, path, exc)
        return problem_json_response(
            request,
            504,
            "upstream-timeout",
            f"The {route.upstream} service did not answer in time.",
        )
    except upstream.UpstreamUnavailable as exc:
        logger.warning("%s unavailable for %s %s: %s", route.upstream, request.method, path, exc)
        detail = f"The {route.upstream} service is unavailable."
        return problem_json_response(request, 503, "upstream-unavailable", detail)
    response = _client_response(answer, request.method)
    if "Allow" in response:
        # The service's view names its own methods (OPTIONS, say); the client has the route's.
        response["Allow"] = ", ".join(route.allowed_methods)
    return rate_limit.annotate(response)


# A refused body up to this size is read and dropped, so the client's keep-alive
# connection stays usable for its next request; gunicorn closes one whose body was left
# unread. Beyond it, closing the connection is the cheaper answer.
DRAIN_LIMIT = 1024 * 1024


def _read_body(request: HttpRequest) -> bytes | None:
    """The body, or None when it is over the limit."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > DRAIN_LIMIT:
        return None
    body = request.read(limit + 1)
    if len(body) <= limit:
        return body
    drained = len(body)
    while drained <= DRAIN_LIMIT and (chunk := request.read(64 * 1024)):
        drained += len(chunk)
    return None


def _forwarded_headers(request: HttpRequest, user_id: str | None) -> dict[str, str]:
    headers = {
        name: request.headers[name] for name in FORWARDED_REQUEST_HEADERS if name in request.headers
    }
    if user_id is not None:
        headers[USER_ID_HEADER] = user_id
    headers[REQUEST_ID_HEADER] = request.request_id
    if settings.INTERNAL_API_TOKEN:
        headers[INTERNAL_TOKEN_HEADER] = settings.INTERNAL_API_TOKEN
    return headers


def _client_response(answer: upstream.UpstreamResponse, method: str) -> HttpResponse:
    response = HttpResponse(answer.body, status=answer.status, content_type=None)
    if "Content-Type" not in answer.headers:
        del response["Content-Type"]
    if method == "HEAD" and "Content-Length" in answer.headers:
        # No body, and the length the GET's body would have (RFC 9110 9.3.2).
        response["Content-Length"] = answer.headers["Content-Length"]
    for name in RETURNED_RESPONSE_HEADERS:
        if name in answer.headers:
            response[name] = answer.headers[name]
    if "Location" in answer.headers:
        response["Location"] = public_url(answer.headers["Location"])
    if "Link" in answer.headers:
        response["Link"] = _public_links(answer.headers["Link"])
    return response


def public_url(url: str) -> str:
    """The public form of a URL a service gave out: its path and query on the gateway
    (a URL that does not parse is passed on as it is)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _public_links(link_header: str) -> str:
    links = []
    for link in link_header.split(","):
        target, _, params = link.strip().partition(">")
        links.append(f"<{public_url(target.lstrip('<'))}>{params}")
    return ", ".join(links)
