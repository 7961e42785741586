"""The consumer: a bootstep of the service's Celery worker that feeds the inbox.

Why inside the worker rather than a process of its own: the worker already owns a broker
connection with heartbeats, reconnects it after a broker restart and restarts its consumer
bootsteps on the new connection, and is supervised like every other process. A separate
consumer would repeat all of that.

Manual acks with a bounded prefetch (PREFETCH_COUNT): a message is acked only after its
inbox row committed (or was found to exist already), so a crash before that redelivers it.
Then the consumer handles the new row at once, in a transaction of its own, exactly as the
drain would (drain.handle_received); what fails there is left pending for the drain sweep.
Handling on the consumer's thread saves a Celery task per message, the largest cost of the
pipeline (docs/performance.md); it holds the consumer for a few milliseconds per message.
"""

import logging
import time

from celery import bootsteps
from django.db import DatabaseError, connection
from kombu import Consumer

from common.messaging.broker import durable_queue
from common.messaging.conf import messaging_settings

logger = logging.getLogger(__name__)

# While the database is unreachable, wait this long before handing a message back to the
# broker, so the redelivery loop does not spin.
DATABASE_RETRY_PAUSE_SECONDS = 1.0


class InboxConsumerStep(bootsteps.ConsumerStep):
    def get_consumers(self, channel):
        conf = messaging_settings()
        if not conf.CONSUME:
            return []
        queues = [durable_queue(conf.queue_name(name)) for name in conf.CONSUME]
        logger.info("Consuming %s", ", ".join(queue.name for queue in queues))
        # Bodies reach the inbox as the bytes that were sent: py-amqp would otherwise decode
        # them by the message's own content_encoding, which a broken message may lie about.
        channel.auto_decode = False
        return [
            Consumer(
                channel,
                queues=queues,
                # on_message gets the raw message: garbage bytes reach us instead of failing
                # inside kombu's decoder.
                on_message=receive,
                prefetch_count=conf.PREFETCH_COUNT,
                no_ack=False,
            )
        ]


def receive(message) -> None:
    """Store one delivery in the inbox, then ack it; requeue it if the database is down.

    Nothing a message contains may stop the consumer: an error that is not the database's
    parks the message (with its raw body) and acks it.
    """
    # Imported here: this module is loaded with the Celery app, before Django's models.
    from common.messaging import inbox

    queue = message.delivery_info.get("routing_key", "")
    body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
    message_id = message.properties.get("message_id")
    try:
        new_message_id = _store_or_park(inbox, body, message_id, queue)
    except DatabaseError as exc:
        logger.error("Cannot store a message from %s, requeueing it: %s", queue, exc)
        # The consumer keeps one connection for its life (no request cycle closes it);
        # after an error it is dropped, and the next message connects afresh.
        connection.close()
        time.sleep(DATABASE_RETRY_PAUSE_SECONDS)
        message.requeue()
        return
    message.ack()
    if new_message_id is not None and messaging_settings().HANDLE_ON_RECEIPT:
        handle_now(new_message_id)


def handle_now(message_id: str) -> None:
    """Handle a stored message at once, on this thread: no drain task per message (its
    publish, dispatch and events cost more than the handling). A failure leaves the row
    pending (or records the attempt) for the drain sweep; the consumer goes on."""
    from common.messaging.drain import handle_received

    try:
        handle_received(message_id)
    except DatabaseError as exc:
        logger.warning("Cannot handle %s now (the drain will): %s", message_id, exc)
        connection.close()
    except Exception:
        logger.exception("Handling %s failed outside its handler (the drain retries)", message_id)


def _store_or_park(inbox, body: bytes, message_id: str | None, queue: str) -> str | None:
    """store_incoming, with any failure but the database's turned into a parked message."""
    try:
        return inbox.store_incoming(body=body, message_id_property=message_id, queue=queue)
    except DatabaseError:
        raise
    except Exception as exc:
        logger.exception("Unexpected error storing a message from %s; parking it", queue)
        inbox.park_malformed(body, None, queue, f"cannot be stored: {exc!r}")
        return None
