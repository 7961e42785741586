"""Test helpers that talk to the real RabbitMQ: publish raw bytes, read or purge a queue,
and cut a process's broker connections from the server side."""

import re
import subprocess
import time

from django.conf import settings
from kombu import Connection, Consumer, Message, Producer

from common.messaging.broker import durable_queue


def broker_connection() -> Connection:
    # The configured broker even in a process without a Celery app (the end-to-end tests).
    return Connection(settings.CELERY_BROKER_URL)


def publish_raw(queue: str, body: bytes, **properties) -> None:
    """Put bytes on a queue as-is (no envelope), e.g. garbage or a hand-made duplicate."""
    with broker_connection() as connection:
        channel = connection.default_channel
        durable_queue(queue).declare(channel=channel)
        Producer(channel).publish(body, routing_key=queue, exchange="", **properties)


def take_messages(queue: str, *, timeout: float = 1.0, ack: bool = True) -> list[Message]:
    """Every message on the queue, waiting up to `timeout` s of silence for more."""
    messages: list[Message] = []
    with broker_connection() as connection:
        consumer = Consumer(
            connection.default_channel,
            queues=[durable_queue(queue)],
            on_message=messages.append,
            no_ack=False,
        )
        with consumer:
            while True:
                try:
                    connection.drain_events(timeout=timeout)
                except TimeoutError:
                    break
        if ack:
            for message in messages:
                message.ack()
    return messages


def purge(*queues: str) -> None:
    with broker_connection() as connection:
        for queue in queues:
            bound = durable_queue(queue).bind(connection.default_channel)
            bound.declare()
            bound.purge()


def delete(*queues: str) -> None:
    with broker_connection() as connection:
        for queue in queues:
            durable_queue(queue).bind(connection.default_channel).delete()


def delete_exchanges(*exchanges: str) -> None:
    with broker_connection() as connection:
        for exchange in exchanges:
            connection.default_channel.exchange_delete(exchange)


def close_broker_connections_of(pid: int) -> int:
    """Close, from the broker's side, every AMQP connection process `pid` has open.

    As a broker restart or a network cut would: the client only learns it when it next
    reads or writes. Returns how many connections were closed.
    """
    sockets = subprocess.run(
        ["ss", "-tnpH", "dst", "127.0.0.1:5672"], capture_output=True, text=True, check=True
    ).stdout
    local_ports = {
        int(match.group(1))
        for line in sockets.splitlines()
        if f"pid={pid}," in line and (match := re.search(r"127\.0\.0\.1:(\d+)\s", line))
    }
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "pid", "peer_port"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    closed = 0
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and int(parts[1]) in local_ports:
            subprocess.run(
                ["rabbitmqctl", "-q", "close_connection", parts[0], "test: connection cut"],
                check=True,
                capture_output=True,
            )
            closed += 1
    return closed


def set_queue_policy(name: str, queue: str, definition: str) -> None:
    """Apply a RabbitMQ policy (JSON `definition`) to exactly one queue."""
    subprocess.run(
        ["rabbitmqctl", "-q", "set_policy", "--apply-to", "queues", name,
         f"^{re.escape(queue)}$", definition],
        check=True, capture_output=True,
    )  # fmt: skip


def clear_policy(name: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", "clear_policy", name], check=True, capture_output=True)


def wait_until(predicate, *, timeout: float, interval: float = 0.1, message: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s: {message}")
        time.sleep(interval)
