"""The broker users of deploy/broker_users.py, created in the real RabbitMQ (as `up` does)
under names and a queue prefix of this test's own: each may do what its processes do, and
RabbitMQ refuses it anything else. The end-to-end tests run whole stacks on such users."""

import contextlib
import json
import os
import subprocess
import sys
import uuid
from urllib.parse import unquote, urlsplit

import amqp
import amqp.exceptions
import pytest

from tests.stack import REPO_ROOT

SCRIPT = str(REPO_ROOT / "deploy" / "broker_users.py")
ADMIN_URL = os.environ.get("BROKER_URL") or "amqp://guest:guest@127.0.0.1:5672//"
HOST, PORT = urlsplit(ADMIN_URL).hostname or "127.0.0.1", urlsplit(ADMIN_URL).port or 5672


class Broker:
    def __init__(self, run: str):
        self.prefix = f"{run}."
        self.users = f"{run}-"
        self.passwords = {group: uuid.uuid4().hex for group in ("orders", "payments", "flower")}
        self.connections: list[amqp.Connection] = []

    def name(self, name: str) -> str:
        return self.prefix + name

    def script(self, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ}
        env.update({f"{g.upper()}_BROKER_PASSWORD": p for g, p in self.passwords.items()})
        return subprocess.run(  # noqa: S603 - our own script
            [sys.executable, SCRIPT, *args], env=env, capture_output=True, text=True, timeout=120
        )

    def connect(self, group: str | None) -> amqp.Connection:
        """A connection as one of the users (None: BROKER_URL's, the administrator's)."""
        if group is None:
            url = urlsplit(ADMIN_URL)
            userid, password = unquote(url.username or "guest"), unquote(url.password or "guest")
        else:
            userid, password = self.users + group, self.passwords[group]
        connection = amqp.Connection(
            f"{HOST}:{PORT}", userid=userid, password=password, confirm_publish=True
        )
        connection.connect()
        self.connections.append(connection)
        return connection


@pytest.fixture(scope="module")
def broker():
    broker = Broker(f"test-lp{uuid.uuid4().hex[:8]}")
    created = broker.script("create", ADMIN_URL, "--prefix", broker.prefix, "--users", broker.users)
    assert created.returncode == 0, created.stderr
    yield broker
    for connection in broker.connections:
        # A refused channel may have closed it already.
        with contextlib.suppress(Exception):
            connection.collect()
    channel = broker.connect(None).channel()
    for queue in ("orders", "payment_status", "mine", "orders.tasks"):
        channel.queue_delete(broker.name(queue))
    for exchange in ("orders.events", "payments.events", "orders.tasks", "celeryev"):
        channel.exchange_delete(broker.name(exchange))
    channel.exchange_delete(broker.name("orders.pidbox"))
    channel.exchange_delete(f"reply.{broker.name('orders.pidbox')}")
    channel.connection.close()
    deleted = broker.script("delete", ADMIN_URL, "--users", broker.users)
    assert deleted.returncode == 0, deleted.stderr


def publish(channel, exchange: str, routing_key: str, body: bytes = b"{}") -> None:
    """A persistent, mandatory publish, confirmed (the connection is in confirm mode)."""
    channel.basic_publish(
        amqp.Message(body, delivery_mode=2), exchange=exchange, routing_key=routing_key,
        mandatory=True,
    )  # fmt: skip


def declare_route(channel, broker: Broker, service: str, queue: str) -> None:
    """What the relay declares before it publishes: its exchange, the queue, the binding."""
    exchange = broker.name(f"{service}.events")
    channel.exchange_declare(exchange, "direct", durable=True, auto_delete=False)
    channel.queue_declare(broker.name(queue), durable=True, auto_delete=False)
    channel.queue_bind(broker.name(queue), exchange, routing_key=broker.name(queue))


def get_one(channel, queue: str) -> amqp.Message | None:
    message = channel.basic_get(queue)
    if message is not None:
        channel.basic_ack(message.delivery_tag)
    return message


def refused(broker: Broker, group: str, action) -> bool:
    """Whether RabbitMQ refuses ACTION(channel) to GROUP's user with ACCESS_REFUSED (403)."""
    channel = broker.connect(group).channel()
    with pytest.raises(amqp.exceptions.AccessRefused):
        action(channel)
    return True


def test_each_service_sends_its_events_and_reads_the_others(broker):
    orders = broker.connect("orders").channel()
    payments = broker.connect("payments").channel()
    # Each consumer declares its own queue (as the worker's consumer does).
    payments.queue_declare(broker.name("orders"), durable=True, auto_delete=False)
    orders.queue_declare(broker.name("payment_status"), durable=True, auto_delete=False)

    declare_route(orders, broker, "orders", "orders")
    publish(orders, broker.name("orders.events"), broker.name("orders"), b"order.created")
    declare_route(payments, broker, "payments", "payment_status")
    publish(payments, broker.name("payments.events"), broker.name("payment_status"), b"result")

    assert get_one(payments, broker.name("orders")).body == b"order.created"
    assert get_one(orders, broker.name("payment_status")).body == b"result"


def test_each_service_runs_its_own_celery(broker):
    orders = broker.connect("orders").channel()
    tasks = broker.name("orders.tasks")
    # The task queue and its exchange share a name (Celery's default), as do the events.
    orders.exchange_declare(tasks, "direct", durable=True, auto_delete=False)
    orders.queue_declare(tasks, durable=True, auto_delete=False)
    orders.queue_bind(tasks, tasks, routing_key=tasks)
    publish(orders, tasks, tasks, b"a task")
    assert get_one(orders, tasks).body == b"a task"
    orders.exchange_declare(broker.name("celeryev"), "topic", durable=True, auto_delete=False)
    orders.basic_publish(amqp.Message(b"{}"), exchange=broker.name("celeryev"), routing_key="x")
    # Remote control: the worker's node queue on its control exchange, a reply queue.
    control = broker.name("orders.pidbox")
    node_queue = f"orders-worker.stack@host.{control}"
    orders.exchange_declare(control, "fanout", durable=False, auto_delete=False)
    orders.queue_declare(node_queue, auto_delete=True)
    orders.queue_bind(node_queue, control)
    orders.exchange_declare(f"reply.{control}", "direct", durable=False, auto_delete=False)
    reply_queue = f"{uuid.uuid4()}.reply.{control}"
    orders.queue_declare(reply_queue, auto_delete=True)
    orders.queue_bind(reply_queue, f"reply.{control}", routing_key="ticket")
    orders.basic_publish(amqp.Message(b"ping"), exchange=control, routing_key="")
    orders.basic_publish(amqp.Message(b"pong"), exchange=f"reply.{control}", routing_key="ticket")
    assert get_one(orders, reply_queue).body == b"pong"


def test_flower_reads_the_events(broker):
    flower = broker.connect("flower").channel()
    events = broker.name("celeryev")
    flower.exchange_declare(events, "topic", durable=True, auto_delete=False)
    queue = f"{events}.{uuid.uuid4()}"
    flower.queue_declare(queue, auto_delete=True)
    flower.queue_bind(queue, events, routing_key="#")
    payments = broker.connect("payments").channel()
    payments.basic_publish(amqp.Message(b"heartbeat"), exchange=events, routing_key="worker.x")
    assert get_one(flower, queue).body == b"heartbeat"


def test_a_service_cannot_read_the_queue_of_another(broker):
    assert refused(broker, "orders", lambda ch: ch.basic_get(broker.name("orders")))
    assert refused(broker, "orders", lambda ch: ch.basic_consume(broker.name("orders")))
    assert refused(broker, "payments", lambda ch: ch.basic_get(broker.name("payment_status")))
    assert refused(broker, "orders", lambda ch: ch.queue_purge(broker.name("orders")))


def test_a_service_cannot_publish_into_what_the_other_sends_or_receives(broker):
    # Not through the default exchange (by queue name), nor the other's exchange.
    status, orders_queue = broker.name("payment_status"), broker.name("orders")
    assert refused(broker, "orders", lambda ch: publish(ch, "", status))
    assert refused(broker, "orders", lambda ch: publish(ch, broker.name("payments.events"), status))
    assert refused(broker, "payments", lambda ch: publish(ch, "", orders_queue))
    assert refused(broker, "payments", lambda ch: publish(ch, broker.name("orders.events"), ""))
    # Not by binding the queue it reads to its own exchange...
    assert refused(
        broker, "orders", lambda ch: ch.queue_bind(status, broker.name("orders.events"), "x")
    )

    # ... nor by binding a queue of its own to the other's exchange.
    def bind_to_payments_events(channel):
        mine = f"{uuid.uuid4()}.reply.{broker.name('orders.pidbox')}"
        channel.queue_declare(mine, auto_delete=True)
        channel.queue_bind(mine, broker.name("payments.events"), routing_key="#")

    assert refused(broker, "orders", bind_to_payments_events)


def test_a_service_cannot_run_or_control_the_others_celery(broker):
    tasks, control = broker.name("payments.tasks"), broker.name("payments.pidbox")
    assert refused(broker, "orders", lambda ch: publish(ch, tasks, tasks))
    assert refused(broker, "orders", lambda ch: publish(ch, "", tasks))
    assert refused(broker, "orders", lambda ch: ch.basic_get(tasks))
    assert refused(broker, "orders", lambda ch: ch.queue_declare(tasks, durable=True))
    assert refused(broker, "orders", lambda ch: ch.exchange_declare(control, "fanout"))
    assert refused(broker, "orders", lambda ch: ch.basic_publish(amqp.Message(b""), control))
    # Celery's events are Flower's to read: a service cannot bind a queue to them.
    events = broker.name("celeryev")
    mine = f"{uuid.uuid4()}.reply.{broker.name('orders.pidbox')}"
    assert refused(
        broker, "orders", lambda ch: (ch.queue_declare(mine), ch.queue_bind(mine, events, "#"))
    )


def test_a_service_cannot_declare_or_delete_what_is_not_its(broker):
    assert refused(broker, "orders", lambda ch: ch.queue_declare(broker.name("mine"), durable=True))
    assert refused(broker, "orders", lambda ch: ch.exchange_delete(broker.name("payments.events")))
    assert refused(broker, "orders", lambda ch: ch.queue_declare("payment_status", durable=True))


def test_flower_can_only_watch(broker):
    orders_queue, tasks = broker.name("orders"), broker.name("orders.tasks")
    assert refused(broker, "flower", lambda ch: ch.basic_get(orders_queue))
    assert refused(broker, "flower", lambda ch: publish(ch, tasks, tasks))
    assert refused(
        broker, "flower", lambda ch: publish(ch, broker.name("orders.events"), orders_queue)
    )
    assert refused(broker, "flower", lambda ch: publish(ch, "", orders_queue))
    assert refused(broker, "flower", lambda ch: publish(ch, broker.name("payments.pidbox"), ""))


def test_the_users_are_no_administrators(broker):
    command = ["rabbitmqctl", "-q", "list_users"]
    listing = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
    tags = {
        line.split("\t")[0]: line.split("\t")[1]
        for line in listing.splitlines()
        if line.startswith(broker.users)
    }
    assert tags == {broker.users + g: "[]" for g in ("orders", "payments", "flower")}


ROUTE_PRINTER = """
import json, django
django.setup()
from django.conf import settings
from {service}_project.celery import app
route = app.amqp.router.route({{}}, "messaging.relay_outbox")
print(json.dumps([settings.CELERY_TASK_DEFAULT_QUEUE, route["exchange"], route["routing_key"],
                  route["queue"].name, app.conf.control_exchange, app.conf.event_exchange]))
"""


@pytest.mark.parametrize("service", ["orders", "payments"])
def test_celery_sends_each_services_tasks_to_its_own_exchange(service):
    # Celery's default for a direct queue is the default exchange, which no user may write.
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", ROUTE_PRINTER.format(service=service)],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": f"{service}_project.settings.test",
             "MESSAGING_QUEUE_PREFIX": "test-route."},
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    queue = f"test-route.{service}.tasks"
    assert json.loads(result.stdout.splitlines()[-1]) == [
        queue,
        queue,
        queue,
        queue,
        f"test-route.{service}",
        "test-route.celeryev",
    ]
