"""The producer's side: record an event in the business transaction; publish it after commit."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from common.messaging.conf import messaging_settings
from common.messaging.listener import notify_on_commit, published_by_the_worker
from common.messaging.models import OutboxMessage
from common.messaging.relay import publish_after_commit
from common.messaging.types import MessageType
from common.observability import context, tracing


class OutsideTransaction(RuntimeError):
    """record_event was called in autocommit mode, which would be a dual write."""


def record_event(
    message_type: MessageType, *, payload: dict[str, Any], headers: dict[str, str] | None = None
) -> OutboxMessage:
    """Add an event to the outbox, in the caller's transaction.

    It commits or rolls back with the business rows; right after commit it is published
    from this process (relay.publish_after_commit) instead of at the next sweep, or, with
    MESSAGING PUBLISH_AFTER_COMMIT_BY "worker", by the worker, which the transaction wakes
    with a NOTIFY (listener.py).

    The event carries the work's request id and a `traceparent` (a producer span, child of
    the current one) in its headers unless `headers` name them: the handlers of the
    receiving service log with the same request id, in the same trace.
    """
    _require_transaction()
    # Headers travel as AMQP header fields too: plain strings always encode.
    headers = {str(name): str(value) for name, value in (headers or {}).items()}
    if "request_id" not in headers and (request_id := context.get("request_id")):
        headers["request_id"] = request_id
    if "traceparent" not in headers and (
        traceparent := tracing.child_traceparent(f"{message_type.name} send", kind="producer")
    ):
        headers["traceparent"] = traceparent
    message = OutboxMessage.objects.create(**_row(message_type, payload, headers))
    _publish_after_commit([message.id])
    return message


def record_events(
    message_type: MessageType, payloads: list[dict[str, Any]], *, continuing: list[dict]
) -> list[OutboxMessage]:
    """record_event for many events of one type, in one INSERT (a batch handler's answers).

    Each event continues the request and the trace of the message whose headers are at the
    same place in `continuing` (a payment result those of the order it answers): its request
    id, and a producer span, child of that message's trace. Where a message has none, the
    current work's (as record_event).
    """
    _require_transaction()
    rows = [
        OutboxMessage(**_row(message_type, payload, _continued(message_type, headers)))
        for payload, headers in zip(payloads, continuing, strict=True)
    ]
    OutboxMessage.objects.bulk_create(rows)
    _publish_after_commit([row.id for row in rows])
    return rows


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise OutsideTransaction(
            "record_event must run inside transaction.atomic() with the business change."
        )


def _row(message_type: MessageType, payload: dict, headers: dict) -> dict:
    return {
        "type": message_type.name,
        "version": message_type.version,
        "destination": message_type.queue,
        "payload": payload,
        "headers": headers,
    }


def _continued(message_type: MessageType, received: dict) -> dict[str, str]:
    headers = {}
    if request_id := received.get("request_id") or context.get("request_id"):
        headers["request_id"] = str(request_id)
    name = f"{message_type.name} send"
    if parent := received.get("traceparent"):
        with tracing.span(name, kind="producer", parent=str(parent)) as handed_on:
            headers["traceparent"] = handed_on.context.traceparent
    elif traceparent := tracing.child_traceparent(name, kind="producer"):
        headers["traceparent"] = traceparent
    return headers


def _publish_after_commit(ids: list) -> None:
    if not messaging_settings().PUBLISH_AFTER_COMMIT:
        return
    batch = getattr(_published_together, "ids", None)
    if batch is not None:
        batch.extend(ids)  # the block's end publishes them, once for all
    elif published_by_the_worker():
        notify_on_commit()
    else:
        transaction.on_commit(PublishAfterCommit(tuple(ids)))


@dataclass(frozen=True)
class PublishAfterCommit:
    """The on-commit callback of recorded events (a class: tests can see what it is)."""

    message_ids: tuple

    def __call__(self) -> None:
        publish_after_commit(list(self.message_ids))


_published_together = threading.local()


@contextmanager
def publishing_together() -> Iterator[None]:
    """Events recorded inside the block are published after commit as one batch: one
    claim, one confirm wait and one mark for all of them instead of one each.

    Use it inside the transaction.atomic() that records them (the consumer handles a batch
    of messages in one transaction this way). An event whose savepoint rolled back stays in
    the batch, harmlessly: it has no row, so the publish claims nothing for it.

    The committing process publishes such a batch itself, with PUBLISH_AFTER_COMMIT_BY
    "worker" too: the blocks run in a worker already (its consumer, its drain), their batch
    is one claim and one confirm wait either way, and handing it to the listener thread of
    the same process measured more CPU per message, not less (docs/performance.md).
    """
    if getattr(_published_together, "ids", None) is not None:
        yield  # already inside a batch: the outer block publishes
        return
    ids = _published_together.ids = []
    try:
        yield
    finally:
        _published_together.ids = None
    if ids:
        transaction.on_commit(PublishAfterCommit(tuple(ids)))
