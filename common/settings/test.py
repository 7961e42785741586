"""Test values, star-imported after a service's base settings (see <service>/settings/test.py)."""

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Nothing is collected for tests; WhiteNoise need not look for a static root.
STATIC_ROOT = None
# The services' own tests call them directly: the gateway's token check is off, whatever
# a developer's .env (written by `up`) says. Tests that need it set it themselves.
INTERNAL_API_TOKEN = ""
