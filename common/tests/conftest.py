import pytest

# The sample project's Celery app, as a service's project package imports its own: the
# relay and the wake-ups then use its configuration (from the Django settings).
import common.tests.celery  # noqa: F401
from common.messaging.conf import messaging_settings
from common.testing import broker
from common.testing.fixtures import run_queues


@pytest.fixture
def samples_queue() -> str:
    """The sample service's event queue, emptied for this test."""
    broker.purge(*run_queues())
    return messaging_settings().queue_name("samples")


@pytest.fixture
def refusing_queue():
    """A queue the broker refuses to take messages into: a policy of max-length 0 with
    overflow reject-publish makes RabbitMQ nack every publish to it."""
    queue = messaging_settings().queue_name("refusals")
    policy = f"{queue}-refuse"
    broker.set_queue_policy(policy, queue, '{"max-length": 0, "overflow": "reject-publish"}')
    yield queue
    broker.clear_policy(policy)
