"""Environment defaults of a test run, set by every test settings module before it reads
its base settings: a throwaway secret, no persistent connections, and a queue prefix of
its own, which the worker processes a test starts inherit."""

import os
import uuid


def prepare_test_environment() -> None:
    os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production")
    # Each test gets fresh connections; a persistent one would outlive the database flush.
    os.environ.setdefault("DJANGO_CONN_MAX_AGE", "0")
    os.environ.setdefault("TEST_RUN_ID", uuid.uuid4().hex[:8])
    os.environ.setdefault("MESSAGING_QUEUE_PREFIX", f"test-{os.environ['TEST_RUN_ID']}.")
