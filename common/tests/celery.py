"""The sample project's Celery app: `celery -A common.tests.celery worker` in the tests."""

import os

from common.celery import create_celery_app

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "common.tests.settings")

app = create_celery_app("sample")
