"""Live order status (docs/gateway.md, "Live status"): `GET /orders/{id}/events` (SSE) and
`GET /orders/{id}?wait=S` (long-poll), woken by Orders' notifications.

The proxy uses `hub()`, `event_stream`, `long_poll` and `wait_seconds_of`; the hub's
listener is this process's own, made on first use (after gunicorn forked the worker).
"""

from functools import cache

from django.conf import settings

from gateway_project.gateway.live.hub import Hub, TooManyWaiting
from gateway_project.gateway.live.streams import (
    MAX_WAIT_SECONDS,
    event_stream,
    long_poll,
    wait_seconds_of,
)


@cache
def hub() -> Hub:
    return Hub(settings.ORDERS_NOTIFY_DATABASE_URL)


def bounds_of(user_id: str, address: str) -> dict[str, int]:
    """How many waits the caller's user and address may hold in this process."""
    return {
        f"user:{user_id}": settings.GATEWAY_LIVE_MAX_PER_USER,
        f"address:{address}": settings.GATEWAY_LIVE_MAX_PER_ADDRESS,
    }


__all__ = [
    "MAX_WAIT_SECONDS",
    "TooManyWaiting",
    "bounds_of",
    "event_stream",
    "hub",
    "long_poll",
    "wait_seconds_of",
]
