"""The only place that publishes to RabbitMQ: the relay's publisher.

It connects with the Celery app's broker settings (URL, heartbeat, transport options with
confirm_publish), keeps one connection per thread (py-amqp connections are not thread-safe;
the worker may run tasks in threads), declares each durable queue once per connection, and
drops the connection on any broker error so the next call reconnects: after a broker
restart the relay recovers by itself.
"""

import logging
import threading

from amqp.exceptions import MessageNacked
from celery import current_app
from kombu import Connection, Producer, Queue

from common.messaging.envelope import CONTENT_TYPE

logger = logging.getLogger(__name__)


class BrokerUnavailable(Exception):
    """The broker could not be reached or dropped the connection; nothing is lost, the rows
    stay pending and no attempt is counted against them."""


class MessageRejected(Exception):
    """The broker refused this message (a negative confirm); it counts as a failed attempt."""


def durable_queue(name: str) -> Queue:
    # Published through the default exchange with the queue name as routing key.
    return Queue(name, exchange="", routing_key=name, durable=True, auto_delete=False)


class Publisher:
    def __init__(self):
        self._local = threading.local()

    def publish(
        self,
        *,
        queue: str,
        body: bytes,
        message_id: str,
        message_type: str,
        headers: dict,
        confirm_timeout: float,
    ) -> None:
        """Publish one persistent message and return once the broker confirmed it.

        BrokerUnavailable: the broker is down or the connection broke (or the confirm timed
        out); MessageRejected: the broker nacked it; anything else is a fault of this message.
        """
        try:
            producer = self._producer()
        except Exception as exc:
            self.reset()
            raise BrokerUnavailable(f"cannot connect: {exc}") from exc
        connection = self._local.connection
        outage_errors = (
            *connection.connection_errors,
            *connection.recoverable_connection_errors,
            OSError,
        )
        try:
            self._declare(producer, queue)
            producer.publish(
                body,
                routing_key=queue,
                exchange="",
                delivery_mode=2,  # persistent
                content_type=CONTENT_TYPE,
                content_encoding="utf-8",
                message_id=message_id,
                type=message_type,
                headers=headers,
                retry=False,
                confirm_timeout=confirm_timeout,
            )
        except MessageNacked as exc:
            raise MessageRejected(f"the broker nacked message {message_id}") from exc
        except outage_errors as exc:
            self.reset()
            raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc
        except Exception:
            # A channel error (or a header AMQP cannot encode) closes the channel: start afresh.
            self.reset()
            raise

    def _producer(self) -> Producer:
        producer = getattr(self._local, "producer", None)
        if producer is None:
            connection: Connection = current_app.connection_for_write()
            connection.ensure_connection(max_retries=1)
            producer = Producer(connection.default_channel)
            self._local.producer = producer
            self._local.connection = connection
            self._local.declared = set()
        return producer

    def _declare(self, producer: Producer, queue: str) -> None:
        if queue not in self._local.declared:
            durable_queue(queue).declare(channel=producer.channel)
            self._local.declared.add(queue)

    def reset(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.producer = self._local.connection = None
        if connection is not None:
            try:
                connection.close()
            except Exception as exc:
                logger.debug("Ignoring error while closing a broken connection: %s", exc)


publisher = Publisher()
