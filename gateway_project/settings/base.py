"""The gateway keeps no state: no database, no sessions, no admin. It shares the services'
environment handling, logging and error shape, and adds its route table's upstreams."""

# Re-exported as this module's settings.
from common.settings.base import (  # noqa: F401
    ALLOWED_HOSTS,
    DATA_UPLOAD_MAX_MEMORY_SIZE,
    DEBUG,
    LOGGING,
    REST_FRAMEWORK,
    SECRET_KEY,
    SPECTACULAR_SETTINGS,
    STATIC_ROOT,
    STATIC_URL,
    TEMPLATES,
    TIME_ZONE,
    USE_TZ,
    longest_database_wait,
    postgres_timeouts,
)
from common.settings.env import env
from common.settings.timeouts import check_timeouts_nest

SERVICE_NAME = "gateway"
ROOT_URLCONF = "gateway_project.urls"
WSGI_APPLICATION = "gateway_project.wsgi.application"
APPEND_SLASH = False

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "gateway_project.gateway",
]

MIDDLEWARE = [
    "common.observability.http.ObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

DATABASES = {}

# Where the gateway finds the services, and how long it waits for them.
UPSTREAMS = {
    "orders": env.str("ORDERS_URL", default="http://127.0.0.1:8001"),
    "payments": env.str("PAYMENTS_URL", default="http://127.0.0.1:8002"),
}
UPSTREAM_CONNECT_TIMEOUT_SECONDS = env.float("UPSTREAM_CONNECT_TIMEOUT_SECONDS", default=2.0)
UPSTREAM_READ_TIMEOUT_SECONDS = env.float("UPSTREAM_READ_TIMEOUT_SECONDS", default=10.0)
check_timeouts_nest(
    database_answer=longest_database_wait(postgres_timeouts()),
    upstream_connect=UPSTREAM_CONNECT_TIMEOUT_SECONDS,
    upstream_read=UPSTREAM_READ_TIMEOUT_SECONDS,
    gunicorn_timeout=env.float("GUNICORN_TIMEOUT", default=30.0),
)
# Keep-alive connections kept per upstream and gateway process (gunicorn threads use them).
UPSTREAM_POOL_SIZE = env.int("UPSTREAM_POOL_SIZE", default=16)
# /metrics answers only clients on this host (the public gets a 404); Prometheus in
# another container scrapes the gunicorn master's METRICS_PORT instead (never published).
METRICS_LOOPBACK_ONLY = True
# Sent on every forwarded call; the services refuse API calls without it.
INTERNAL_API_TOKEN = env.str("INTERNAL_API_TOKEN", default="")
