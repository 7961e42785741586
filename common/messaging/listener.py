"""Publishing after commit by the worker (MESSAGING PUBLISH_AFTER_COMMIT_BY "worker").

The transaction that records an event also sends `NOTIFY messaging_outbox`; PostgreSQL
delivers it only once that transaction has committed (never if it rolls back), and folds the
identical notifications of one transaction into one. The service's Celery worker holds a
connection that LISTENs on the channel, in a thread of its main process (not in the pool's
children, not in beat), and on a notification runs the relay: claim the pending rows FOR
UPDATE SKIP LOCKED, publish them as confirmed batches, mark them sent. The request only
commits; the worker publishes whatever has been committed meanwhile, in batches.

The channel carries no payload: a wake-up, not a work list. The rows are the truth, so a
notification that is lost (sent while the listener was reconnecting, or while no worker ran)
loses nothing: the listener relays once after every (re)connection, and beat's sweep stays
behind it. Several workers on one database all wake up; the claim's SKIP LOCKED gives each
row to one of them.
"""

import logging
import threading

import psycopg
from celery import Celery, bootsteps
from django.conf import settings
from django.db import connection

from common.messaging import relay
from common.messaging.conf import messaging_settings
from common.observability import metrics

logger = logging.getLogger(__name__)

CHANNEL = "messaging_outbox"
RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0
# How often the waiting listener looks whether the worker is stopping.
STOP_CHECK_SECONDS = 1.0
# A listener connection that went silent (a host gone, a cut network) is noticed by TCP
# keep-alives within about a minute (beat's sweep publishes meanwhile); a terminated backend
# or a restarted server at once. Its idle wait is no statement: no statement time-out.
CONNECT_OPTIONS = {
    "autocommit": True,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def published_by_the_worker() -> bool:
    """Whether an event is published after commit by the worker's listener rather than by
    the committing process. The one place that knows the embedded mode has no NOTIFY."""
    conf = messaging_settings()
    return (
        conf.PUBLISH_AFTER_COMMIT
        and conf.PUBLISH_AFTER_COMMIT_BY == "worker"
        and not settings.EMBEDDED_DATABASE
    )


def notify_on_commit() -> None:
    """Send the wake-up in the caller's transaction: delivered when it commits."""
    with connection.cursor() as cursor:
        cursor.execute(f"NOTIFY {CHANNEL}")


class OutboxListener:
    """The thread that LISTENs and relays. It reconnects with backoff when its connection
    dies; it uses Django's ORM with its own connection (Django's are per thread) and the
    relay's publisher with its own broker session (broker.Publisher keeps one per thread)."""

    def __init__(self, app: Celery, *, name: str = "outbox-listener"):
        self._app = app
        self._name = name
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # A daemon: a worker that is stopping never waits on it beyond stop()'s join.
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = STOP_CHECK_SECONDS + 1) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        # Celery's current app is per thread: without this, the publisher would connect with
        # the settings of Celery's fallback app, not the worker's.
        self._app.set_current()
        wait = RECONNECT_FIRST_SECONDS
        try:
            while not self._stopping.is_set():
                try:
                    with psycopg.connect(**listener_connection_params()) as listening:
                        listening.execute(f"LISTEN {CHANNEL}")
                        logger.info("Outbox listener: listening on %s", CHANNEL)
                        wait = RECONNECT_FIRST_SECONDS
                        self._listen(listening)
                except psycopg.Error as exc:
                    metrics.outbox_listener_reconnects.inc()
                    logger.warning(
                        "Outbox listener: connection lost (%s); beat's sweep publishes "
                        "meanwhile; reconnecting in %.1f s",
                        exc,
                        wait,
                    )
                except Exception:  # whatever broke, the listener must come back
                    metrics.outbox_listener_reconnects.inc()
                    logger.exception("Outbox listener failed; reconnecting in %.1f s", wait)
                if self._stopping.wait(wait):
                    break
                wait = min(wait * 2, RECONNECT_MAX_SECONDS)
        finally:
            connection.close()

    def _listen(self, listening: psycopg.Connection) -> None:
        # Notifications sent while nobody listened are lost; their rows are not.
        self._relay()
        while not self._stopping.is_set():
            woken = list(listening.notifies(timeout=STOP_CHECK_SECONDS, stop_after=1))
            if woken:
                # Coalesce: take whatever else has arrived too, then relay once. What
                # arrives while the relay runs wakes the next round.
                woken.extend(listening.notifies(timeout=0))
                self._relay()

    def _relay(self) -> None:
        metrics.outbox_listener_wakeups.inc()
        try:
            relay.relay_outbox()
        except Exception as exc:
            # This thread's Django connection may be broken (the database restarted): the
            # next wake-up opens a new one; beat's sweep publishes what this run could not.
            logger.warning("Outbox listener: the relay failed (the sweep will): %s", exc)
            connection.close()


def listener_connection_params() -> dict:
    """The service's database (DATABASES["default"]), for a connection of its own."""
    database = settings.DATABASES["default"]
    params = {
        "dbname": database["NAME"],
        "user": database.get("USER") or None,
        "password": database.get("PASSWORD") or None,
        "host": database.get("HOST") or None,
        "port": database.get("PORT") or None,
        "connect_timeout": database.get("OPTIONS", {}).get("connect_timeout") or 5,
        "application_name": f"{messaging_settings().SERVICE}-outbox-listener",
    }
    return {**{k: v for k, v in params.items() if v is not None}, **CONNECT_OPTIONS}


class OutboxListenerStep(bootsteps.StartStopStep):
    """Runs the listener in the worker's main process, started after the pool (its children
    are forked without the thread) and stopped with the worker (on TERM too)."""

    requires = ("celery.worker.components:Pool",)

    def include_if(self, worker) -> bool:
        return published_by_the_worker()

    def create(self, worker) -> OutboxListener:
        return OutboxListener(worker.app)  # StartStopStep starts and stops it
