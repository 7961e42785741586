from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from common.settings.base import *
from common.settings.env import env

SERVICE_NAME = "orders"

ROOT_URLCONF = "orders_project.urls"
WSGI_APPLICATION = "orders_project.wsgi.application"

INSTALLED_APPS = [*INSTALLED_APPS, "orders_project.orders"]

# Cookies are not kept apart by port: both admins on one host (127.0.0.1:8001 and :8002)
# would overwrite each other's session (and CSRF token) under Django's default names.
SESSION_COOKIE_NAME = f"{SERVICE_NAME}_sessionid"
CSRF_COOKIE_NAME = f"{SERVICE_NAME}_csrftoken"

DATABASES = {
    "default": database_from_env(
        "ORDERS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/orders"
    ),
}
# The embedded mode's SQLite: the few places that differ read this flag (common/db.py).
EMBEDDED_DATABASE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"

SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,
    "TITLE": "Orders service",
    "DESCRIPTION": (
        "Orders, paid asynchronously by the Payments service: NEW until the payment result "
        "arrives, then FINISHED or CANCELLED (with the reason). Every error is RFC 9457 "
        "problem details."
    ),
}

MESSAGING = {
    **MESSAGING,
    "SERVICE": SERVICE_NAME,
    "CONSUME": ["payment_status"],
}
CELERY_TASK_DEFAULT_QUEUE = f"{MESSAGING_QUEUE_PREFIX}{SERVICE_NAME}.tasks"
# Its own broker user (docs/security.md), and a remote control of its own: with the shared
# default ("celery") either service could shut down or reconfigure the other's workers.
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = broker_settings("ORDERS_BROKER_URL")
CELERY_CONTROL_EXCHANGE = f"{MESSAGING_QUEUE_PREFIX}{SERVICE_NAME}"
CELERY_TASK_ROUTES = own_exchange_task_routes(CELERY_TASK_DEFAULT_QUEUE)

# The saga closes itself (docs/orders.md): an order NEW for longer than this is asked about
# again (its "order created" once more, through the outbox), then less and less often.
ORDERS_REASK_AFTER_SECONDS = env.float("ORDERS_REASK_AFTER_SECONDS", default=30.0)
# NEW for longer than this: reported (an ERROR log line once, the admin's "stuck" filter)
# and still asked about, but never cancelled: Payments may have charged it. Also the window
# in which the reconciliation counts a change as in flight rather than as a difference.
ORDERS_STUCK_AFTER_SECONDS = env.float("ORDERS_STUCK_AFTER_SECONDS", default=600.0)
if not 0 < ORDERS_REASK_AFTER_SECONDS <= ORDERS_STUCK_AFTER_SECONDS:
    raise ImproperlyConfigured(
        "ORDERS_REASK_AFTER_SECONDS must be above 0 and at most ORDERS_STUCK_AFTER_SECONDS."
    )
# Payments' internal API (reconcile_payments reads it with INTERNAL_API_TOKEN); manage_all.sh
# exports it, and without it the port of .env gives the same URL.
PAYMENTS_URL = env.str(
    "PAYMENTS_URL", default=f"http://127.0.0.1:{env.int('PAYMENTS_PORT', default=8002)}"
)

# Orders' own periodic tasks; Celery merges them with the shared sweeps (common/celery.py).
# The stale-order sweep runs a few times per re-ask age, within 1 s to 1 min.
_STALE_SWEEP_SECONDS = min(max(ORDERS_REASK_AFTER_SECONDS / 3, 1.0), 60.0)
CELERY_BEAT_SCHEDULE = {
    "reask stale orders": {
        "task": "orders.reask_stale_orders",
        "schedule": _STALE_SWEEP_SECONDS,
        # A sweep no worker took in time is pointless: the next one does the same work.
        "options": {"expires": max(5.0, 5 * _STALE_SWEEP_SECONDS)},
    },
    "report stuck orders": {
        "task": "orders.report_stuck_orders",
        "schedule": _STALE_SWEEP_SECONDS,
        "options": {"expires": max(5.0, 5 * _STALE_SWEEP_SECONDS)},
    },
    "reconcile payments": {
        "task": "orders.reconcile_payments",
        "schedule": crontab(hour=3, minute=30),  # daily, UTC; after Payments' ledger audit
    },
}
