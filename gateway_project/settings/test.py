"""Settings for the gateway's tests."""

from common.settings.test_environment import prepare_test_environment

prepare_test_environment()

# ruff: noqa: E402, I001
from gateway_project.settings.base import *
from common.settings.test import DEBUG, STATIC_ROOT  # noqa: F401

INTERNAL_API_TOKEN = "test-internal-token"  # noqa: S105 - a test value
# The run's own rate-limit buckets in the machine's Redis: runs side by side never share one.
GATEWAY_RATE_LIMIT_KEY_PREFIX = f"test-{env.str('TEST_RUN_ID')}:ratelimit:"
