"""The sample project with the worker publishing after commit (MESSAGING
PUBLISH_AFTER_COMMIT_BY "worker"): the settings of the workers that
common/tests/test_outbox_listener.py starts. They consume nothing, so the tests count every
delivery on the queue themselves."""

from common.tests.settings import *  # noqa: F403
from common.tests.settings import MESSAGING

MESSAGING = {
    **MESSAGING,
    "PUBLISH_AFTER_COMMIT": True,
    "PUBLISH_AFTER_COMMIT_BY": "worker",
    "CONSUME": [],
}
