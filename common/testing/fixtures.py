import os
import signal
import uuid

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from common.messaging.broker import events_exchange
from common.messaging.conf import messaging_settings
from common.messaging.types import declared_queues
from common.testing import broker


@pytest.fixture(scope="session", autouse=True)
def delete_run_queues():
    """A test run's queues carry its own prefix; remove them when the run ends."""
    yield
    if getattr(settings, "MESSAGING_QUEUE_PREFIX", ""):  # never touch unprefixed queues
        broker.delete(*run_queues())
        if hasattr(settings, "MESSAGING"):  # its relay's, its tasks', its Celery events'
            task_queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", None)
            broker.delete_exchanges(
                events_exchange().name,
                *([task_queue] if task_queue else []),
                settings.CELERY_EVENT_EXCHANGE,
            )


def run_queues() -> list[str]:
    if not hasattr(settings, "MESSAGING"):
        return []  # the gateway has no queues
    conf = messaging_settings()
    logical = {*declared_queues(), *conf.CONSUME}
    task_queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", None)
    return [*([task_queue] if task_queue else []), *(conf.queue_name(n) for n in logical)]


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user_id() -> str:
    """A fresh caller id, so tests never share an account by accident."""
    return f"user-{uuid.uuid4()}"


class CallerClient:
    """An API client that names its caller in X-User-Id on every request."""

    def __init__(self, client: APIClient, user_id: str):
        self.client = client
        self.user_id = user_id

    def _headers(self, headers: dict | None) -> dict:
        return {"X-User-Id": self.user_id, **(headers or {})}

    def get(self, path: str, headers: dict | None = None, **kwargs):
        return self.client.get(path, headers=self._headers(headers), **kwargs)

    def post(self, path: str, data=None, headers: dict | None = None, **kwargs):
        kwargs.setdefault("format", "json")
        return self.client.post(path, data, headers=self._headers(headers), **kwargs)


@pytest.fixture
def caller(api_client, user_id) -> CallerClient:
    return CallerClient(api_client, user_id)


@pytest.fixture
def paused_database():
    """Pauses (SIGSTOP) the PostgreSQL server process behind this thread's connection, as
    a frozen server would be, with a 1 s answer deadline; continued afterwards. Only that
    connection's backend stops: the rest of the server goes on serving others."""
    # A fresh connection: its health check is done, so the next query meets the pause
    # rather than a check that would replace the connection (CONN_HEALTH_CHECKS).
    connection.close()
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    connection.connection.answer_timeout = 1.0
    os.kill(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)
        connection.close()  # as Django does after a request whose connection failed
