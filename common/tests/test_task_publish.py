"""Celery's own publishes (beat's sweeps, wake-ups) give up on a broker that stops
answering instead of hanging the process that sends them (common/celery_base.py,
TASK_CONFIRM_TIMEOUT_SECONDS).

The broker is the real RabbitMQ behind a small TCP relay that the test can freeze: the
connection stays open and what the client sends is accepted, but no answer (no confirm)
comes back, as with a paused server; the server itself goes on serving everyone else."""

import select
import socket
import threading
import time

import pytest
from django.conf import settings
from kombu import Connection
from kombu.exceptions import OperationalError

from common.messaging.tasks import relay_outbox
from common.testing import broker
from common.testing.fixtures import run_queues


class FreezableRelay(threading.Thread):
    def __init__(self, upstream: tuple[str, int]):
        super().__init__(daemon=True)
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.frozen = threading.Event()
        self.done = threading.Event()

    def run(self) -> None:
        client, _ = self.listener.accept()
        server = socket.create_connection(self.upstream)
        peers = {client: server, server: client}
        while not self.done.is_set():
            readable, _, _ = select.select(list(peers), [], [], 0.05)
            for sock in readable:
                if self.frozen.is_set() and sock is server:
                    continue  # the server's answers stop here
                data = sock.recv(65536)
                if not data:
                    return
                peers[sock].sendall(data)

    def stop(self) -> None:
        self.done.set()
        self.listener.close()


@pytest.fixture
def relay():
    url = Connection(settings.CELERY_BROKER_URL)
    relay = FreezableRelay((url.hostname, url.port or 5672))
    relay.start()
    yield relay
    relay.stop()
    broker.purge(*run_queues())


def test_a_task_publish_gives_up_within_the_confirm_timeout(relay):
    url = Connection(settings.CELERY_BROKER_URL)
    through_relay = Connection(
        hostname="127.0.0.1",
        port=relay.port,
        userid=url.userid,
        password=url.password,
        virtual_host=url.virtual_host,
        transport_options={"confirm_publish": True},
    )
    try:
        relay_outbox.apply_async(connection=through_relay)  # answered: confirmed
        relay.frozen.set()
        started = time.monotonic()

        with pytest.raises(OperationalError, match="timed out"):
            relay_outbox.apply_async(connection=through_relay, retry=False)

        assert time.monotonic() - started < 4
    finally:
        relay.frozen.clear()  # closing waits for the server's close-ok
        through_relay.close()
