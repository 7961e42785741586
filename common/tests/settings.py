"""A minimal project for testing `common` on its own: the shared apps plus a sample app whose
handlers record their effects. Its queues carry a per-run prefix (inherited by the worker
processes the tests start), so test runs never share a queue."""

import os
import uuid

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production")
os.environ.setdefault("TEST_RUN_ID", uuid.uuid4().hex[:8])
os.environ.setdefault("MESSAGING_QUEUE_PREFIX", f"test-{os.environ['TEST_RUN_ID']}.")

from common.settings.base import *

SERVICE_NAME = "sample"
ROOT_URLCONF = "common.tests.urls"
INSTALLED_APPS = [*INSTALLED_APPS, "common.tests.sampleapp"]
DATABASES = {
    "default": database_from_env(
        "COMMON_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/common_sample"
    ),
}
DATABASES["default"]["CONN_MAX_AGE"] = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STATIC_ROOT = None

MESSAGING = {
    **MESSAGING,
    "SERVICE": SERVICE_NAME,
    "ROUTES": {
        "sample.created": "samples",
        "sample.poison": "samples",
        "sample.refused": "refusals",  # a queue the tests make the broker refuse (nack)
    },
    "CONSUME": ["samples"],
    "HANDLERS": {
        "sample.created": "common.tests.sampleapp.handlers.record_effect",
        "sample.poison": "common.tests.sampleapp.handlers.always_fail",
    },
    "MAX_ATTEMPTS": 3,
    "BACKOFF_BASE_SECONDS": 0.05,
    "BACKOFF_MAX_SECONDS": 0.2,
    "SWEEP_INTERVAL_SECONDS": 0.5,
}
CELERY_TASK_DEFAULT_QUEUE = f"{MESSAGING_QUEUE_PREFIX}{SERVICE_NAME}.tasks"
