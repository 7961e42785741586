"""The gateway's client to the services: pooled keep-alive connections, bounded waits.

One urllib3 pool per upstream and process, shared by the gunicorn threads (urllib3 pools
are thread-safe). A failure to connect is retried once. Once a request went out, it is
sent again only if the connection broke before a whole answer (typically a kept-alive
connection the service closed meanwhile: a gunicorn worker that restarted, or its
keep-alive timeout) and sending it twice is harmless: a GET, HEAD or OPTIONS, or a request
with an Idempotency-Key to an endpoint that answers it once and replays that answer
(`replayed_by_key`). Any other POST is never sent twice by the gateway (its 503 may mean it
was executed). A slow answer is never retried: the client gets the 504. Every HTTP answer
of a service, 5xx and Retry-After included, goes back to the client unchanged.
"""

import time
from dataclasses import dataclass
from functools import cache

import urllib3
from django.conf import settings
from urllib3.exceptions import (
    HTTPError,
    MaxRetryError,
    ProtocolError,
    ReadTimeoutError,
    TimeoutError,
)

from common.observability import metrics, tracing
from common.observability.traceparent import TRACEPARENT_HEADER

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class UpstreamUnavailable(Exception):
    """The service could not be reached (refused, reset, not resolvable)."""


class UpstreamTimeout(Exception):
    """The service took longer than UPSTREAM_READ_TIMEOUT_SECONDS to answer."""


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    headers: urllib3.HTTPHeaderDict
    body: bytes


@cache
def _pool(base_url: str) -> urllib3.HTTPConnectionPool:
    return urllib3.connection_from_url(
        base_url,
        maxsize=settings.UPSTREAM_POOL_SIZE,
        block=False,  # beyond maxsize, open extra connections instead of queueing callers
        retries=urllib3.Retry(
            total=1,
            connect=1,
            read=0,
            other=0,
            status=0,
            redirect=False,
            raise_on_status=False,
            respect_retry_after_header=False,
        ),
        timeout=urllib3.Timeout(
            connect=settings.UPSTREAM_CONNECT_TIMEOUT_SECONDS,
            read=settings.UPSTREAM_READ_TIMEOUT_SECONDS,
        ),
    )


def call(
    upstream: str,
    method: str,
    path_and_query: str,
    *,
    headers: dict,
    body: bytes | None,
    replayed_by_key: bool = False,
) -> UpstreamResponse:
    """One call to a service, in a client span of its own (its traceparent goes with the
    call), counted and timed by outcome: the HTTP status, or timeout / unavailable."""
    started = time.perf_counter()
    outcome = "unavailable"
    with tracing.span(f"{method} {upstream}", kind="client") as span:
        try:
            answer = _call(
                upstream,
                method,
                path_and_query,
                headers={**headers, TRACEPARENT_HEADER: span.context.traceparent},
                body=body,
                replayed_by_key=replayed_by_key,
            )
            outcome = str(answer.status)
            return answer
        except UpstreamTimeout:
            outcome = "timeout"
            raise
        finally:
            if outcome in ("timeout", "unavailable") or outcome.startswith("5"):
                span.set_error(outcome)
            metrics.upstream_requests.labels(upstream, outcome).inc()
            metrics.upstream_duration.labels(upstream).observe(time.perf_counter() - started)


def _call(
    upstream: str,
    method: str,
    path_and_query: str,
    *,
    headers: dict,
    body: bytes | None,
    replayed_by_key: bool,
) -> UpstreamResponse:
    pool = _pool(settings.UPSTREAMS[upstream])
    replayable = method in SAFE_METHODS or replayed_by_key

    def send():
        return pool.urlopen(
            method, path_and_query, body=body, headers=headers, preload_content=True
        )

    try:
        try:
            response = send()
        except (MaxRetryError, ProtocolError) as exc:
            # urllib3 wraps the error in MaxRetryError for the methods it deems retryable.
            reason = exc.reason if isinstance(exc, MaxRetryError) else exc
            if not (replayable and isinstance(reason, ProtocolError)):
                raise
            # The connection broke (a kept-alive one the service had closed, typically):
            # once more, on another connection.
            response = send()
    except MaxRetryError as exc:
        if isinstance(exc.reason, ReadTimeoutError):
            raise UpstreamTimeout(str(exc.reason)) from exc
        raise UpstreamUnavailable(str(exc.reason)) from exc
    except ReadTimeoutError as exc:
        raise UpstreamTimeout(str(exc)) from exc
    except (TimeoutError, HTTPError, OSError) as exc:
        # After the retry: refused, reset, connect timeout, a broken response.
        raise UpstreamUnavailable(str(exc)) from exc
    return UpstreamResponse(status=response.status, headers=response.headers, body=response.data)
