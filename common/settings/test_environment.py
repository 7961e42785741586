"""Environment defaults of a test run, set by every test settings module before it reads
its base settings: a throwaway secret, no persistent connections, and a queue prefix of
its own, which the worker processes a test starts inherit."""

import os
import uuid


def prepare_test_environment() -> None:
    _default("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production")
    # Each test gets fresh connections; a persistent one would outlive the database flush.
    _default("DJANGO_CONN_MAX_AGE", "0")
    _default("TEST_RUN_ID", uuid.uuid4().hex[:8])
    _default("MESSAGING_QUEUE_PREFIX", f"test-{os.environ['TEST_RUN_ID']}.")


def _default(name: str, value: str) -> None:
    # Empty counts as unset: an empty MESSAGING_QUEUE_PREFIX exported from a .env must not
    # put a test run on the real, unprefixed queues.
    if not os.environ.get(name):
        os.environ[name] = value
