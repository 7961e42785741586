"""MESSAGING_QUEUE_TYPE=quorum against the real (single-node) RabbitMQ: the queues' type and
arguments as the broker lists them, a message requeued past the delivery limit parked and
not lost, and the clear error for a queue that exists with the other type. Each test's
queues carry the run's prefix and a name of their own, and are deleted afterwards."""

import subprocess
import time
import uuid

import amqp.exceptions
import pytest
from kombu import Consumer, Queue

from common.messaging.broker import (
    Outgoing,
    QueueTypeMismatch,
    durable_queue,
    parking_name,
    parking_queue,
    publisher,
)
from common.messaging.conf import messaging_settings
from common.testing import broker
from common.testing.worker import celery_worker


@pytest.fixture
def quorum(settings):
    settings.MESSAGING = {**settings.MESSAGING, "QUEUE_TYPE": "quorum", "DELIVERY_LIMIT": 2}
    publisher.reset()  # its declared-queues memory belongs to its connection
    yield
    publisher.reset()


@pytest.fixture
def queue_name():
    name = messaging_settings().queue_name(f"quorum-{uuid.uuid4().hex[:8]}")
    yield name
    broker.delete(name, parking_name(name))
    broker.delete_exchanges(parking_name(name))


def listed(name: str) -> tuple[str, str]:
    """(type, arguments) of a queue as `rabbitmqctl list_queues` shows them."""
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "name", "type", "arguments"],  # noqa: S607
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    for line in listing.splitlines():
        columns = line.split("\t")
        if columns[0] == name:
            return columns[1], columns[2]
    raise AssertionError(f"{name} is not listed")


def declare(queue: Queue) -> None:
    with broker.broker_connection() as connection:
        queue(connection.default_channel).declare()


def publish(queue: str, message_id: str):
    return publisher.publish_batch(
        [Outgoing(queue, b"{}", message_id, "sample.created", {})], confirm_timeout=10
    )


def test_quorum_declares_quorum_queues_with_a_delivery_limit_and_a_parking_queue(
    quorum, queue_name
):
    declare(durable_queue(queue_name))  # the consumer's declaration

    queue_type, arguments = listed(queue_name)
    assert queue_type == "quorum"
    assert '{"x-delivery-limit",2}' in arguments
    assert f'{{"x-dead-letter-exchange","{queue_name}.parking"}}' in arguments
    assert '{"x-dead-letter-strategy","at-least-once"}' in arguments
    assert listed(parking_name(queue_name))[0] == "quorum"
    # The relay binds the queue to its exchange and publishes with confirms, as for classic.
    outcome = publish(queue_name, "m-1")
    assert outcome.confirmed == ["m-1"]
    assert outcome.outage is None
    assert [m.properties["message_id"] for m in broker.take_messages(queue_name)] == ["m-1"]


def test_the_relay_waits_for_the_consumers_declaration_without_spending_attempts(
    quorum, queue_name
):
    outcome = publish(queue_name, "m-1")  # no queue yet: the sender may not declare it

    assert outcome.confirmed == []
    assert outcome.rejected == {}  # no attempt spent: published again later
    assert f"the quorum queue '{queue_name}' does not exist yet" in outcome.outage

    declare(durable_queue(queue_name))
    assert publish(queue_name, "m-1").confirmed == ["m-1"]


def test_classic_stays_the_default(queue_name):
    assert messaging_settings().QUEUE_TYPE == "classic"
    declare(durable_queue(queue_name))

    assert listed(queue_name) == ("classic", "[]")


def test_a_message_requeued_past_the_delivery_limit_is_parked_not_lost(quorum, queue_name):
    declare(durable_queue(queue_name))
    assert publish(queue_name, "poison").confirmed == ["poison"]

    deliveries = 0
    with broker.broker_connection() as connection:

        def requeue(message):
            nonlocal deliveries
            deliveries += 1
            message.requeue()  # as a consumer that cannot take it would, again and again

        with Consumer(connection.default_channel, queues=[durable_queue(queue_name)],
                      on_message=requeue, no_ack=False):  # fmt: skip
            while True:
                try:
                    connection.drain_events(timeout=2)
                except TimeoutError:
                    break

    assert deliveries == 3  # the limit of 2 redeliveries past the first, then parked
    assert broker.take_messages(queue_name) == []
    parked = take_parked(queue_name)
    assert [m.properties["message_id"] for m in parked] == ["poison"]
    assert parked[0].headers["x-death"][0]["reason"] == "delivery_limit"


def take_parked(queue_name: str) -> list:
    messages: list = []
    with broker.broker_connection() as connection:
        with Consumer(connection.default_channel, queues=[parking_queue(queue_name)],
                      on_message=messages.append, no_ack=False):  # fmt: skip
            try:
                while True:
                    connection.drain_events(timeout=1)
            except TimeoutError:
                pass
        for message in messages:
            message.ack()
    return messages


def test_a_classic_queue_of_the_name_stops_quorum_with_a_clear_error(quorum, queue_name):
    declare(Queue(queue_name, durable=True))  # as a classic deployment left it

    with pytest.raises(QueueTypeMismatch) as raised:
        declare(durable_queue(queue_name))

    message = str(raised.value)
    assert f"'{queue_name}' exists as a classic queue" in message
    assert "MESSAGING_QUEUE_TYPE is 'quorum'" in message
    assert f"rabbitmqctl delete_queue {queue_name}" in message
    assert listed(queue_name) == ("classic", "[]")  # left as it was


def test_a_quorum_queue_of_the_name_stops_classic_with_a_clear_error(settings, queue_name):
    quorum_arguments = {"x-queue-type": "quorum", "x-delivery-limit": 5}
    declare(Queue(queue_name, durable=True, queue_arguments=quorum_arguments))

    with pytest.raises(QueueTypeMismatch, match=f"'{queue_name}' exists as a quorum queue"):
        declare(durable_queue(queue_name))


def test_another_argument_differing_is_the_brokers_own_error(quorum, settings, queue_name):
    declare(durable_queue(queue_name))
    settings.MESSAGING = {**settings.MESSAGING, "DELIVERY_LIMIT": 7}

    with pytest.raises(amqp.exceptions.PreconditionFailed, match="x-delivery-limit"):
        declare(durable_queue(queue_name))


@pytest.mark.django_db(transaction=True)
def test_a_worker_says_at_start_which_queue_has_the_other_type(tmp_path):
    prefix = f"{messaging_settings().QUEUE_PREFIX}mismatch-{uuid.uuid4().hex[:6]}."
    queue = f"{prefix}samples"  # what the sample worker consumes, under a prefix of its own
    declare(Queue(queue, durable=True))
    log = tmp_path / "worker.log"
    try:
        try:
            with celery_worker(
                app="common.tests.celery",
                settings_module="common.tests.settings",
                database_env="COMMON_DATABASE_URL",
                log_dir=tmp_path,
                beat=False,
                extra_env={"MESSAGING_QUEUE_TYPE": "quorum", "MESSAGING_QUEUE_PREFIX": prefix},
            ):
                wait_for_text(log, "exists as a classic queue")
        except RuntimeError:
            pass  # the worker stopped at start: its log says why
        said = log.read_text()
        assert "Unrecoverable error: QueueTypeMismatch" in said  # it stops, saying why
        assert f"The queue '{queue}' exists as a classic queue" in said
        assert "MESSAGING_QUEUE_TYPE is 'quorum'" in said
        assert listed(queue) == ("classic", "[]")
    finally:  # the queues and exchanges of its prefix, its task queue's included
        broker.delete(queue, parking_name(queue), f"{prefix}sample.tasks")
        broker.delete_exchanges(parking_name(queue), f"{prefix}sample.tasks", f"{prefix}celeryev")


def wait_for_text(path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(0.2)
