"""Who waits for which order, and the listener that wakes them (one of each per process).

The source of changes is PostgreSQL LISTEN/NOTIFY on Orders' database: Orders sends
`pg_notify('order_status', {order_id, user_id, status})` in the transaction that creates or
changes an order (orders/live.py), so a notification arrives once that change is committed
and readable. The listener is one connection per gateway process, made on the first
subscription (after gunicorn forked the worker), with a role that may only CONNECT: LISTEN
needs no privilege, and the gateway reads no table. Its loop runs in a thread, which under
the gevent worker is a greenlet (psycopg 3 waits cooperatively once gevent patched the
socket module), like every waiting client.

A notification only wakes the subscribers of its order: they re-read the order through
Orders' API (ownership and body are Orders' own), so the payload's user and status are
never trusted for an answer. While the listener is down (its connection dropped, the
database restarts) or absent (no ORDERS_NOTIFY_DATABASE_URL: the embedded mode's SQLite has
no LISTEN), subscribers re-read their order every POLL_SECONDS instead; on reconnecting,
every subscriber re-reads once, so nothing committed during the gap is missed.
"""

import json
import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Mapping

import psycopg

from common.observability import metrics

logger = logging.getLogger(__name__)

CHANNEL = "order_status"  # orders_project/orders/live.py sends on it
POLL_SECONDS = 1.0
RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0
# A connection that went silent (a host gone, a cut network) is noticed by TCP keep-alives
# within about a minute; a terminated backend or a restarted server at once.
CONNECT_OPTIONS = {
    "autocommit": True,
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "application_name": "gateway-live-status",
}


class TooManyWaiting(Exception):
    """The caller (its user or its address) holds as many waits as one process allows."""

    def __init__(self, holder: str):
        super().__init__(f"too many open waits for {holder}")
        self.holder = holder


class Subscription:
    """One waiting client's interest in one order."""

    def __init__(self, hub: "Hub", order_id: str, holders: tuple[str, ...]):
        self._hub = hub
        self.order_id = order_id
        self.holders = holders  # whose bounds it counts against ("user:u-1", "address:...")
        self._changed = threading.Event()

    def wake(self) -> None:
        self._changed.set()

    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` seconds; True when the order must be read again: it was
        notified, the listener reconnected, or no listener runs and POLL_SECONDS passed."""
        listening = self._hub.listening
        if self._changed.wait(timeout if listening else min(timeout, POLL_SECONDS)):
            # Cleared only once woken: a wake after a time-out stays set for the next wait.
            self._changed.clear()
            return True
        return not listening

    def close(self) -> None:
        self._hub.unsubscribe(self)


class Hub:
    def __init__(self, database_url: str):
        self._database_url = database_url
        self._lock = threading.Lock()
        self._waiting: dict[str, set[Subscription]] = defaultdict(set)
        self._held: Counter[str] = Counter()
        self._listening = threading.Event()
        self._listener: threading.Thread | None = None

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    def subscribe(self, order_id: str, bounds: Mapping[str, int] | None = None) -> Subscription:
        """Wait on the order. `bounds`: for each holder (a user, an address), the most
        subscriptions it may have at once here (0: no bound); above one, TooManyWaiting."""
        bounds = bounds or {}
        subscription = Subscription(self, order_id, tuple(bounds))
        with self._lock:
            for holder, bound in bounds.items():
                if bound and self._held[holder] >= bound:
                    raise TooManyWaiting(holder)
            self._held.update(subscription.holders)
            self._start_listener()
            self._waiting[order_id].add(subscription)
        metrics.live_subscribers.inc()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            waiting = self._waiting.get(subscription.order_id)
            if waiting is None or subscription not in waiting:
                return
            waiting.discard(subscription)
            if not waiting:
                del self._waiting[subscription.order_id]
            self._held.subtract(subscription.holders)
            self._held += Counter()  # drops the holders that are down to zero
        metrics.live_subscribers.dec()

    def notify(self, order_id: str) -> None:
        with self._lock:
            waiting = list(self._waiting.get(order_id, ()))
        for subscription in waiting:
            subscription.wake()

    def wake_all(self) -> None:
        with self._lock:
            waiting = [subscription for group in self._waiting.values() for subscription in group]
        for subscription in waiting:
            subscription.wake()

    def _start_listener(self) -> None:
        if self._listener is None and self._database_url:
            self._listener = threading.Thread(
                target=self._listen_forever, name="live-status-listener", daemon=True
            )
            self._listener.start()

    def _listen_forever(self) -> None:
        wait = RECONNECT_FIRST_SECONDS
        while True:
            try:
                with psycopg.connect(self._database_url, **CONNECT_OPTIONS) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    logger.info("Live status: listening for order changes")
                    wait = RECONNECT_FIRST_SECONDS
                    # Whatever committed while nobody listened: every subscriber reads again.
                    self.wake_all()
                    for notification in connection.notifies():
                        metrics.live_notifications.inc()
                        if order_id := _order_id_of(notification.payload):
                            self.notify(order_id)
            except psycopg.Error as exc:
                logger.warning(
                    "Live status: listener connection lost (%s); subscribers poll every "
                    "%.0f s, reconnecting in %.1f s",
                    exc,
                    POLL_SECONDS,
                    wait,
                )
            except Exception:  # whatever broke, the listener must come back
                logger.exception("Live status: the listener failed; reconnecting in %.1f s", wait)
            finally:
                if self._listening.is_set():
                    self._listening.clear()
                    self.wake_all()  # to their polling wait
            time.sleep(wait)
            wait = min(wait * 2, RECONNECT_MAX_SECONDS)


def _order_id_of(payload: str) -> str | None:
    try:
        order_id = json.loads(payload)["order_id"]
    except (ValueError, TypeError, KeyError):
        logger.warning("Live status: a notification without an order id: %.200r", payload)
        return None
    return order_id if isinstance(order_id, str) else None
