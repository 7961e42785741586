"""The consumer: a bootstep of the service's Celery worker that feeds the inbox.

Why inside the worker rather than a process of its own: the worker already owns a broker
connection with heartbeats, reconnects it after a broker restart and restarts its consumer
bootsteps on the new connection, and is supervised like every other process. A separate
consumer would repeat all of that. The cost is small: a message is one INSERT, done on the
worker's consumer thread.

Manual acks with a bounded prefetch (PREFETCH_COUNT): a message is acked only after its
inbox row committed (or was found to exist already), so a crash before that redelivers it.
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
    """Store one delivery in the inbox, then ack it; requeue it if the database is down."""
    # Imported here: this module is loaded with the Celery app, before Django's models.
    from common.messaging.events import wake_drain
    from common.messaging.inbox import store_incoming

    queue = message.delivery_info.get("routing_key", "")
    body = message.body
    if isinstance(body, str):
        # py-amqp decodes the body when the message names a content_encoding; undo it
        # losslessly so the inbox always parses the bytes that were sent.
        body = body.encode(message.content_encoding or "utf-8")
    try:
        is_new = store_incoming(
            body=body,
            message_id_property=message.properties.get("message_id"),
            queue=queue,
        )
    except DatabaseError as exc:
        logger.error("Cannot store a message from %s, requeueing it: %s", queue, exc)
        # The consumer keeps one connection for its life (no request cycle closes it);
        # after an error it is dropped, and the next message connects afresh.
        connection.close()
        time.sleep(DATABASE_RETRY_PAUSE_SECONDS)
        message.requeue()
        return
    message.ack()
    if is_new:
        wake_drain()
