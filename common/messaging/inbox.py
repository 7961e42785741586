"""The inbox's rows: each received message stored once, then it is acked (consumer.py).

The insert is INSERT ... ON CONFLICT (message_id) DO NOTHING, with no check before it: a
duplicate (a redelivery, a relay's re-send) is absorbed by the unique index and acked like
any other message. A message that cannot be handled is stored as failed, visible in the
admin, and acked too: it is never requeued forever and never crashes the consumer.

- A message of a type with no handler keeps its parsed envelope: once a handler is
  deployed, "Requeue failed" in the admin handles it.
- A malformed one (not JSON, no usable id or type, a payload the database refuses) keeps
  its raw body for the operator.
"""

import logging

from common.db import insert_many_or_skip, insert_or_skip
from common.messaging.envelope import Envelope, malformed_message_id, printable_body
from common.messaging.models import InboxMessage
from common.messaging.retries import ERROR_LIMIT
from common.observability import metrics

logger = logging.getLogger(__name__)


def insert(
    envelope: Envelope, queue: str, *, handled: bool = True, **fields
) -> InboxMessage | None:
    """INSERT the message's row unless its id is stored already (then None). A message
    without a handler goes in as failed; `fields` set others (a status, say)."""
    if not handled:
        fields |= {
            "status": InboxMessage.Status.FAILED,
            "last_error": f"no handler for message type {envelope.type!r}",
        }
    row = insert_or_skip(
        InboxMessage,
        ["message_id"],
        message_id=envelope.id,
        type=envelope.type,
        version=envelope.version,
        source_queue=queue,
        payload=envelope.payload,
        headers=envelope.headers,
        **fields,
    )
    if row is None:
        metrics.messages_duplicate.labels(queue).inc()
    elif not handled:
        metrics.messages_parked.labels(queue).inc()
    return row


def insert_many(envelopes: list[Envelope], queue: str, **fields) -> set[str]:
    """insert() for many messages of handled types, in one statement, in the order of their
    ids (two consumers storing copies of the same messages then wait for each other instead
    of deadlocking). Returns the ids inserted; the others were stored already."""
    rows = [
        {
            "message_id": envelope.id,
            "type": envelope.type,
            "version": envelope.version,
            "source_queue": queue,
            "payload": envelope.payload,
            "headers": envelope.headers,
            **fields,
        }
        for envelope in sorted(envelopes, key=lambda envelope: envelope.id)
    ]
    inserted = insert_many_or_skip(InboxMessage, "message_id", rows)
    if duplicates := len(rows) - len(inserted):
        metrics.messages_duplicate.labels(queue).inc(duplicates)
    return inserted


def park_malformed(body: bytes, message_id_property: str | None, queue: str, reason: str):
    message_id = malformed_message_id(body, message_id_property)
    logger.error("Parking malformed message %s from %s: %s", message_id, queue, reason)
    parked = insert_or_skip(
        InboxMessage,
        ["message_id"],
        message_id=message_id,
        source_queue=queue,
        raw_body=printable_body(body),
        status=InboxMessage.Status.FAILED,
        last_error=reason[:ERROR_LIMIT],
    )
    if parked is not None:  # else the same bytes were parked before
        metrics.messages_parked.labels(queue).inc()
