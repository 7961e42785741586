from common.settings.base import *

SERVICE_NAME = "orders"

ROOT_URLCONF = "orders_project.urls"
WSGI_APPLICATION = "orders_project.wsgi.application"

INSTALLED_APPS = [*INSTALLED_APPS, "orders_project.orders"]

DATABASES = {
    "default": database_from_env(
        "ORDERS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/orders"
    ),
}

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
    "ROUTES": {"order.created": "orders"},
    "CONSUME": ["payment_status"],
    "HANDLERS": {"payment.result": "orders_project.orders.handlers.handle_payment_result"},
}
CELERY_TASK_DEFAULT_QUEUE = f"{MESSAGING_QUEUE_PREFIX}{SERVICE_NAME}.tasks"
