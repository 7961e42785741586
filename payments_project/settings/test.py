"""Settings for pytest: the real PostgreSQL, a fixed throwaway secret, fast hashing."""

import os

# Tests must not depend on a developer's .env for the one value base.py requires.
os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production")

from payments_project.settings.base import *

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Each test gets fresh connections; a persistent one would outlive the test database flush.
DATABASES["default"]["CONN_MAX_AGE"] = 0
# Nothing is collected for tests; WhiteNoise need not look for a static root.
STATIC_ROOT = None
