"""A minimal project for testing `common` on its own: the shared apps plus a sample app whose
handlers record their effects. Its queues carry a per-run prefix (inherited by the worker
processes the tests start), so test runs never share a queue."""

from common.settings.test_environment import prepare_test_environment

prepare_test_environment()

from common.settings.base import *
from common.settings.test import *

SERVICE_NAME = "sample"
ROOT_URLCONF = "common.tests.urls"
INSTALLED_APPS = [*INSTALLED_APPS, "common.tests.sampleapp"]
DATABASES = {
    "default": database_from_env(
        "COMMON_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/common_sample"
    ),
}
EMBEDDED_DATABASE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"

MESSAGING = {
    **MESSAGING,
    "SERVICE": SERVICE_NAME,
    "CONSUME": ["samples"],
    "MAX_ATTEMPTS": 3,
    # The tests drive the relay and the drain themselves; the fast path has tests of its
    # own that turn it on (common/tests/test_fast_path.py).
    "PUBLISH_AFTER_COMMIT": False,
    "HANDLE_ON_RECEIPT": False,
    "BACKOFF_BASE_SECONDS": 0.05,
    "BACKOFF_MAX_SECONDS": 0.2,
    "SWEEP_INTERVAL_SECONDS": 0.5,
}
CELERY_TASK_DEFAULT_QUEUE = f"{MESSAGING_QUEUE_PREFIX}{SERVICE_NAME}.tasks"
