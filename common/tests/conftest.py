import pytest
from django.conf import settings

from common.messaging.conf import messaging_settings
from common.testing import broker


def run_queues() -> list[str]:
    conf = messaging_settings()
    return [
        conf.queue_name("samples"),
        conf.queue_name("refusals"),
        settings.CELERY_TASK_DEFAULT_QUEUE,
    ]


@pytest.fixture(scope="session", autouse=True)
def delete_run_queues():
    """The run's queues carry its own prefix; remove them when the run ends."""
    yield
    broker.delete(*run_queues())


@pytest.fixture
def samples_queue() -> str:
    """The sample service's event queue, emptied for this test."""
    broker.purge(*run_queues())
    return messaging_settings().queue_name("samples")
