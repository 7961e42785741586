from celery.schedules import crontab

from common.settings.base import *

SERVICE_NAME = "payments"

ROOT_URLCONF = "payments_project.urls"
WSGI_APPLICATION = "payments_project.wsgi.application"

INSTALLED_APPS = [*INSTALLED_APPS, "payments_project.payments"]

# Cookies are not kept apart by port: both admins on one host (127.0.0.1:8001 and :8002)
# would overwrite each other's session (and CSRF token) under Django's default names.
SESSION_COOKIE_NAME = f"{SERVICE_NAME}_sessionid"
CSRF_COOKIE_NAME = f"{SERVICE_NAME}_csrftoken"

DATABASES = {
    "default": database_from_env(
        "PAYMENTS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/payments"
    ),
}
# The embedded mode's SQLite: the few places that differ read this flag (common/db.py).
EMBEDDED_DATABASE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"

SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,
    "TITLE": "Payments service",
    "DESCRIPTION": "Accounts, deposits and balances. Every error is RFC 9457 problem details.",
}

MESSAGING = {
    **MESSAGING,
    "SERVICE": SERVICE_NAME,
    "CONSUME": ["orders"],
}
CELERY_TASK_DEFAULT_QUEUE = f"{MESSAGING_QUEUE_PREFIX}{SERVICE_NAME}.tasks"
# Its own broker user (docs/security.md), and a remote control of its own: with the shared
# default ("celery") either service could shut down or reconfigure the other's workers.
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = broker_settings("PAYMENTS_BROKER_URL")
CELERY_CONTROL_EXCHANGE = f"{MESSAGING_QUEUE_PREFIX}{SERVICE_NAME}"
CELERY_TASK_ROUTES = own_exchange_task_routes(CELERY_TASK_DEFAULT_QUEUE)

# Payments' own periodic tasks; Celery merges them with the shared sweeps (common/celery.py).
CELERY_BEAT_SCHEDULE = {
    "audit ledger": {
        "task": "payments.audit_ledger",
        "schedule": crontab(hour=3, minute=0),  # daily, UTC; logs ERROR on a difference
    },
}
