"""The live routes' answers: an order's status as Server-Sent Events, and the long-poll.

Both subscribe first and read the order after, so a change committed between the two
cannot be missed: it either shows in the read, or its notification wakes the subscription.
Every read is the normal call to Orders (GET /orders/{id} with the caller's identity): an
unknown or another user's order is Orders' own 404, passed on before any stream starts.

Why SSE rather than a WebSocket: the channel is one-way (the server tells, the client only
listens), SSE is plain HTTP through the same route table, authentication, rate limits,
proxies and access log as the rest, its resume (`Last-Event-ID`) and reconnection are part
of the format, and a long-poll answers clients that cannot even read a stream.
"""

import json
import math
import time
import uuid
from collections.abc import Callable, Iterator, Mapping

from django.http import HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from gateway_project.gateway import upstream
from gateway_project.gateway.live.hub import Hub, Subscription

TERMINAL = frozenset({"FINISHED", "CANCELLED"})
HEARTBEAT_SECONDS = 15.0
RECONNECT_MILLISECONDS = 3000  # the `retry:` field: how soon a client reconnects
EVENT_STREAM = "text/event-stream"
MAX_WAIT_SECONDS = 30  # the long-poll's longest wait (the contract's bound)

ReadOrder = Callable[[], upstream.UpstreamResponse]


def subscription_key(order_id: str) -> str:
    """The id as Orders writes it in a notification (a UUID in lower case with dashes), so
    `/orders/ABC.../events` waits on the same order as `/orders/abc.../events`."""
    try:
        return str(uuid.UUID(order_id))
    except ValueError:
        return order_id  # Orders answers 404 for it: nothing waits


def status_of(answer: upstream.UpstreamResponse) -> str | None:
    """The order's status in a 200 answer of Orders; None for any other answer."""
    if answer.status != 200:
        return None
    try:
        status = json.loads(answer.body)["status"]
    except (ValueError, TypeError, KeyError):
        return None
    return status if isinstance(status, str) else None


def long_poll(
    hub: Hub,
    order_id: str,
    read: ReadOrder,
    wait_seconds: float,
    bounds: Mapping[str, int] | None = None,
) -> upstream.UpstreamResponse:
    """Orders' answer as soon as the order is terminal, or its answer when `wait_seconds`
    elapsed (NEW); any answer other than an order (a 404) at once. `bounds`: Hub.subscribe's."""
    deadline = time.monotonic() + wait_seconds
    subscription = hub.subscribe(subscription_key(order_id), bounds)
    try:
        answer = read()
        while status_of(answer) not in (*TERMINAL, None):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if subscription.wait(remaining):
                answer = read()
        return answer
    finally:
        subscription.close()


def event_stream(
    hub: Hub,
    order_id: str,
    read: ReadOrder,
    *,
    last_event_id: str,
    lifetime: float,
    head: bool = False,
    bounds: Mapping[str, int] | None = None,
) -> HttpResponseBase | upstream.UpstreamResponse:
    """The stream of the order's statuses (the current one at once, the terminal one when it
    comes, each once), 204 when the client has already seen the terminal status, or Orders'
    own answer when it is not the caller's order. `bounds`: Hub.subscribe's."""
    subscription = hub.subscribe(subscription_key(order_id), bounds)
    try:
        answer = read()
        status = status_of(answer)
        if status is None:
            subscription.close()
            return answer
        if status in TERMINAL and status == last_event_id:
            subscription.close()
            return HttpResponse(status=204)
    except BaseException:
        subscription.close()
        raise
    if head:  # the stream's headers, without the stream
        subscription.close()
        response = HttpResponse(content_type=EVENT_STREAM)
    else:
        events = _Events(
            _events(subscription, read, answer, seen=last_event_id, lifetime=lifetime),
            subscription,
        )
        response = StreamingHttpResponse(events, content_type=EVENT_STREAM)
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # a buffering proxy in front would hold the events
    return response


class _Events:
    """The stream's body; Django closes it when the response ends or the client leaves,
    which ends the subscription even if the stream never started."""

    def __init__(self, events: Iterator[bytes], subscription: Subscription):
        self._events = events
        self._subscription = subscription

    def __iter__(self) -> Iterator[bytes]:
        return self._events

    def close(self) -> None:
        self._events.close()
        self._subscription.close()


def _events(
    subscription: Subscription,
    read: ReadOrder,
    answer: upstream.UpstreamResponse,
    *,
    seen: str,
    lifetime: float,
) -> Iterator[bytes]:
    ends_at = time.monotonic() + lifetime
    yield f"retry: {RECONNECT_MILLISECONDS}\n\n".encode()
    status = status_of(answer)
    if status != seen:
        yield _event(status, answer.body)
        seen = status
    heartbeat_at = time.monotonic() + HEARTBEAT_SECONDS
    while seen not in TERMINAL:
        now = time.monotonic()
        if now >= ends_at:
            return  # the client reconnects with Last-Event-ID
        if now >= heartbeat_at:
            yield b": keep-alive\n\n"
            heartbeat_at = now + HEARTBEAT_SECONDS
        if not subscription.wait(min(heartbeat_at, ends_at) - now):
            continue
        try:
            answer = read()
        except (upstream.UpstreamUnavailable, upstream.UpstreamTimeout):
            continue  # read again on the next wake or poll
        status = status_of(answer)
        if status is None:
            return  # the order is gone for this caller (never, today): end the stream
        if status != seen:
            yield _event(status, answer.body)
            seen = status


def _event(status: str, order_json: bytes) -> bytes:
    data = "".join(f"data: {line}\n" for line in order_json.decode().splitlines())
    return f"id: {status}\nevent: status\n{data}\n".encode()


def wait_seconds_of(values: list[str]) -> float | None:
    """The `wait` query parameter: once, a number of seconds from 0 to 30; else None."""
    if len(values) != 1:
        return None
    try:
        seconds = float(values[0])
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and 0 <= seconds <= MAX_WAIT_SECONDS else None
