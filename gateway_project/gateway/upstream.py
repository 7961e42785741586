"""The gateway's client to the services: pooled keep-alive connections, bounded waits.

One urllib3 pool per upstream and process, shared by the gunicorn threads (urllib3 pools
are thread-safe). A failure to connect is retried once; nothing is retried once the request
went out, so a POST is never sent twice by the gateway (a 503 after sending, say from a
connection the service closed meanwhile, may mean it was executed: the client retries
with its Idempotency-Key). Every HTTP answer of a service, 5xx and Retry-After included,
goes back to the client unchanged.
"""

from dataclasses import dataclass
from functools import cache

import urllib3
from django.conf import settings
from urllib3.exceptions import HTTPError, MaxRetryError, ReadTimeoutError, TimeoutError


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
    upstream: str, method: str, path_and_query: str, *, headers: dict, body: bytes | None
) -> UpstreamResponse:
    base_url = settings.UPSTREAMS[upstream]
    try:
        response = _pool(base_url).urlopen(
            method, path_and_query, body=body, headers=headers, preload_content=True
        )
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
