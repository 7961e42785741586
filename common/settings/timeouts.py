"""The time-outs of the layers must nest, or a client sees the wrong failure.

A service gives up on its database (see postgres_timeouts and longest_database_wait in
common/settings/base.py) before the gateway gives up on the service (UPSTREAM_READ_TIMEOUT_SECONDS),
so the client gets the service's 503 `database-unavailable`, not the gateway's time-out;
and the gateway is done with one request (a connect, an answer, and the one resend of
gateway/upstream.py) within gunicorn's worker time-out (GUNICORN_TIMEOUT; it bounds a request
only for sync workers, with threads it is the worker's heartbeat, so this half is a sanity
bound).
The gateway's settings check this at start-up: a deployment with crossed values refuses to
start rather than fail confusingly under load.
"""

from django.core.exceptions import ImproperlyConfigured


def check_timeouts_nest(
    *,
    database_answer: float | None,
    upstream_connect: float,
    upstream_read: float,
    gunicorn_timeout: float,
) -> None:
    if database_answer is None:
        raise ImproperlyConfigured(
            "The services have no database answer deadline (DB_ANSWER_TIMEOUT_SECONDS, or "
            "DB_STATEMENT_TIMEOUT_SECONDS, is 0): a paused database would hang requests."
        )
    if database_answer >= upstream_read:
        raise ImproperlyConfigured(
            f"UPSTREAM_READ_TIMEOUT_SECONDS ({upstream_read:g}) must exceed the longest "
            f"wait of a service for its database ({database_answer:g} s: the answer "
            "deadline, or two connect time-outs), or clients get the gateway's time-out "
            "instead of the service's 503."
        )
    longest_request = 2 * (upstream_connect + upstream_read)
    if longest_request >= gunicorn_timeout:
        raise ImproperlyConfigured(
            f"GUNICORN_TIMEOUT ({gunicorn_timeout:g}) must exceed two upstream attempts "
            f"(2 x (connect {upstream_connect:g} + read {upstream_read:g}) s)."
        )
