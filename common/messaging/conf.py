"""settings.MESSAGING, with its documented defaults filled in (see docs/messaging.md)."""

from dataclasses import dataclass, field, fields

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

QUEUE_TYPES = ("classic", "quorum")
PUBLISHERS_AFTER_COMMIT = ("committer", "worker")


@dataclass(frozen=True)
class MessagingSettings:
    # This service's name: the `source` of the events it sends.
    SERVICE: str = "service"
    # Prepended to every queue name, so test runs (or tenants) never share a queue.
    QUEUE_PREFIX: str = ""
    # Logical queue names this service consumes (the Celery worker's consumer bootstep).
    # Where each type goes, and who handles it, is declared in code: a MessageType names its
    # queue (common/contracts.py), a handler registers with @handles.
    CONSUME: list[str] = field(default_factory=list)
    # Messages handled per drain (and consumer) transaction: their row locks are held until
    # the whole batch commits.
    BATCH_SIZE: int = 100
    # Outbox rows claimed, published and confirmed per relay transaction. Larger batches
    # spread the claim, the confirm wait and the commit over more messages (measured:
    # 4,800 msg/s at 100, 6,800 at 300, 8,100 at 1,000); the claim locks only outbox rows.
    RELAY_BATCH_SIZE: int = 500
    # Attempts before a row is parked as failed (relay: publish errors; drain: handler errors).
    MAX_ATTEMPTS: int = 8
    # Exponential backoff between attempts: BASE * 2**(attempt-1), capped, with jitter.
    BACKOFF_BASE_SECONDS: float = 1.0
    BACKOFF_MAX_SECONDS: float = 300.0
    # The fast path: an event is published by the process that committed it, right after
    # the commit; a received message is handled by the consumer right after it is stored.
    # Off, both wait for beat's sweep (or a wake-up from the admin).
    PUBLISH_AFTER_COMMIT: bool = True
    HANDLE_ON_RECEIPT: bool = True
    # Who publishes after commit. "worker": the transaction sends a PostgreSQL NOTIFY, and
    # the service's Celery worker, which LISTENs, relays whatever is pending
    # (common/messaging/listener.py); the request only commits. "committer": the committing
    # process, in an on-commit callback (a web request then pays the claim, the publish and
    # the confirm wait). Measured side by side, "worker" costs less CPU per order and answers
    # POST /orders faster (docs/performance.md). A worker's own batches
    # (publishing_together) are published by their committer either way; the embedded mode
    # (SQLite) has no NOTIFY, and a transaction-mode PgBouncer no LISTEN: "committer" there.
    PUBLISH_AFTER_COMMIT_BY: str = "worker"
    # Beat's safety sweep of outbox and inbox: whatever the fast path did not do.
    SWEEP_INTERVAL_SECONDS: float = 1.0
    # Unacknowledged messages the consumer may hold (AMQP basic.qos prefetch_count).
    PREFETCH_COUNT: int = 100
    # Sent outbox rows and done inbox rows are deleted after this many days.
    RETENTION_DAYS: float = 7.0
    CLEANUP_INTERVAL_SECONDS: float = 3600.0
    CLEANUP_BATCH_SIZE: int = 1000
    # Seconds the relay waits for the broker's confirm of one publish.
    CONFIRM_TIMEOUT_SECONDS: float = 10.0
    # The type of the service queues (common/messaging/broker.py): "classic" for one node,
    # "quorum" for a cluster (replicated; a delivery limit and a parking queue each).
    QUEUE_TYPE: str = "classic"
    # Quorum only: deliveries of one message before the broker parks it. The consumer
    # hands messages back about once a second while the database is unreachable, so this is
    # also roughly the seconds of database outage a message outlives before it is parked.
    DELIVERY_LIMIT: int = 500

    def queue_name(self, logical_name: str) -> str:
        return f"{self.QUEUE_PREFIX}{logical_name}"


def messaging_settings() -> MessagingSettings:
    configured = getattr(settings, "MESSAGING", {})
    known = {f.name for f in fields(MessagingSettings)}
    unknown = set(configured) - known
    if unknown:
        raise ImproperlyConfigured(f"Unknown MESSAGING settings: {sorted(unknown)}")
    conf = MessagingSettings(**configured)
    if conf.QUEUE_TYPE not in QUEUE_TYPES:
        raise ImproperlyConfigured(
            f"MESSAGING_QUEUE_TYPE is {conf.QUEUE_TYPE!r}: it must be one of {QUEUE_TYPES}"
        )
    if conf.PUBLISH_AFTER_COMMIT_BY not in PUBLISHERS_AFTER_COMMIT:
        raise ImproperlyConfigured(
            f"MESSAGING_PUBLISH_AFTER_COMMIT_BY is {conf.PUBLISH_AFTER_COMMIT_BY!r}: it must "
            f"be one of {PUBLISHERS_AFTER_COMMIT}"
        )
    if conf.DELIVERY_LIMIT < 1:
        raise ImproperlyConfigured(
            f"MESSAGING_DELIVERY_LIMIT must be 1 or more, not {conf.DELIVERY_LIMIT}"
        )
    return conf
