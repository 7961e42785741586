"""Test values, star-imported after a service's base settings (see <service>/settings/test.py)."""

from common.settings.base import broker_settings
from common.settings.env import env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Nothing is collected for tests; WhiteNoise need not look for a static root.
STATIC_ROOT = None
# The services' own tests call them directly: the gateway's token check is off, whatever
# a developer's .env (written by `up`) says. Tests that need it set it themselves.
INTERNAL_API_TOKEN = ""

# Tests run on BROKER_URL's user whatever ORDERS_BROKER_URL (a developer's .env) says: their
# queues carry a prefix of their own (test-<run id>.), which the services' users may not touch.
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = broker_settings()


def as_database_administrator(database: dict) -> dict:
    """The service's database, reached as DATABASE_ADMIN_URL's user (the server's superuser)
    when it is set. Test-only: pytest-django creates and drops the test databases, which the
    services' own roles may not (NOCREATEDB, docs/security.md)."""
    if database["ENGINE"] == "django.db.backends.sqlite3" or not env.str(
        "DATABASE_ADMIN_URL", default=""
    ):
        return database
    admin = env.db_url("DATABASE_ADMIN_URL")
    return {**database, **{key: admin[key] for key in ("USER", "PASSWORD", "HOST", "PORT")}}
