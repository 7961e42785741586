"""The consumer's side of the inbox: store each received message once, then it is acked.

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

from django.db import DataError, transaction

from common.db import insert_or_skip
from common.messaging.conf import messaging_settings
from common.messaging.envelope import (
    Envelope,
    MalformedMessage,
    malformed_message_id,
    parse_body,
    printable_body,
)
from common.messaging.models import InboxMessage
from common.messaging.retries import ERROR_LIMIT
from common.observability import metrics

logger = logging.getLogger(__name__)


def store_incoming(
    *, body: bytes, message_id_property: str | None, queue: str, handle: bool = False
) -> InboxMessage | None:
    """Store one received message; its row when it is new and pending (to be handled),
    None when it was a duplicate, has been parked, or (`handle`) has been handled at once
    (drain.handle_on_receipt: its row is stored as done, or pending after a failure)."""
    metrics.messages_consumed.labels(queue).inc()
    try:
        envelope = parse_body(body, message_id_property=message_id_property)
    except MalformedMessage as exc:
        park_malformed(body, message_id_property, queue, str(exc))
        return None
    handled = envelope.type in messaging_settings().HANDLERS
    if not handled:
        logger.error("Parking message %s: no handler for type %r", envelope.id, envelope.type)
    try:
        if handled and handle:
            # Imported here: the drain imports this module.
            from common.messaging.drain import handle_on_receipt

            handle_on_receipt(envelope, queue)
            return None
        # A savepoint (or its own transaction in autocommit): a DataError below leaves the
        # connection usable for parking the message.
        with transaction.atomic():
            row = insert(envelope, queue, handled=handled)
    except DataError as exc:
        # e.g. "\\u0000" inside a JSON string, which PostgreSQL's jsonb cannot store.
        park_malformed(body, envelope.id, queue, f"payload refused by the database: {exc}")
        return None
    return row if handled else None


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
