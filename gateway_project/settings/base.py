"""The gateway keeps no state: no database, no sessions, no admin. It shares the services'
environment handling, logging and error shape, and adds its route table's upstreams."""

from django.core.exceptions import ImproperlyConfigured

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
from gateway_project.settings.authentication import checked_jwt_algorithms, seconds

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

# Live order status (gateway/live/, docs/gateway.md): Orders' database, where the gateway
# LISTENs for its order changes, with a role that may only CONNECT. Empty, or not
# PostgreSQL (the embedded mode's SQLite), waiting clients re-read their order every second.
ORDERS_NOTIFY_DATABASE_URL = env.str("ORDERS_NOTIFY_DATABASE_URL", default="")
if not ORDERS_NOTIFY_DATABASE_URL.startswith(("postgres://", "postgresql://")):
    ORDERS_NOTIFY_DATABASE_URL = ""
# How long one event stream lasts at most; then it ends and the client reconnects (with
# Last-Event-ID), so a worker's streams turn over and none lives for ever.
GATEWAY_LIVE_STREAM_SECONDS = env.float("GATEWAY_LIVE_STREAM_SECONDS", default=300.0)
# Streams and long-polls one user, and one address, may hold open at once in one gateway
# process (0: no bound). A wait lasts minutes and costs a connection slot (worker_connections):
# without a bound, one client could hold them all and starve every route. The page follows at
# most 3 orders at once; many users behind one proxy share an address, hence its larger bound.
GATEWAY_LIVE_MAX_PER_USER = env.int("GATEWAY_LIVE_MAX_PER_USER", default=20)
GATEWAY_LIVE_MAX_PER_ADDRESS = env.int("GATEWAY_LIVE_MAX_PER_ADDRESS", default=500)
if GATEWAY_LIVE_MAX_PER_USER < 0 or GATEWAY_LIVE_MAX_PER_ADDRESS < 0:
    raise ImproperlyConfigured("GATEWAY_LIVE_MAX_PER_USER/ADDRESS must be 0 (no bound) or more.")
if not 1 <= GATEWAY_LIVE_STREAM_SECONDS <= 3600:
    raise ImproperlyConfigured("GATEWAY_LIVE_STREAM_SECONDS must be within [1, 3600].")

# Who the caller is (docs/security.md, gateway/auth.py). "header": the client's X-User-Id,
# forwarded as sent; "jwt": a bearer JWT is required and its `sub` becomes X-User-Id.
GATEWAY_AUTH = env.str("GATEWAY_AUTH", default="header")
GATEWAY_JWT_SECRET = env.str("GATEWAY_JWT_SECRET", default="")  # HS256, 32+ bytes
GATEWAY_JWKS_FILE = env.str("GATEWAY_JWKS_FILE", default="")  # RS256/ES256 public keys
GATEWAY_JWKS_URL = env.str("GATEWAY_JWKS_URL", default="")  # ... or fetched from here
GATEWAY_JWT_ALGORITHMS = checked_jwt_algorithms(
    mode=GATEWAY_AUTH,
    secret=GATEWAY_JWT_SECRET,
    jwks_file=GATEWAY_JWKS_FILE,
    jwks_url=GATEWAY_JWKS_URL,
    algorithms=env.list("GATEWAY_JWT_ALGORITHMS", default=[]),
)
GATEWAY_JWT_ISSUER = env.str("GATEWAY_JWT_ISSUER", default="")  # iss must match when set
GATEWAY_JWT_AUDIENCE = env.str("GATEWAY_JWT_AUDIENCE", default="")  # aud must include it
GATEWAY_JWT_LEEWAY_SECONDS = seconds("GATEWAY_JWT_LEEWAY_SECONDS", 30, maximum=300)
# The JWKS URL's keys: fetched within the time-out, kept for the cache time, fetched again
# for an unknown kid at most once per refresh interval (a flood of made-up kids cannot
# hammer the JWKS server).
GATEWAY_JWKS_TIMEOUT_SECONDS = seconds("GATEWAY_JWKS_TIMEOUT_SECONDS", 2, minimum=0.1, maximum=10)
GATEWAY_JWKS_REFRESH_SECONDS = seconds("GATEWAY_JWKS_REFRESH_SECONDS", 60, minimum=1)
GATEWAY_JWKS_CACHE_SECONDS = seconds("GATEWAY_JWKS_CACHE_SECONDS", 600, minimum=1)

# Rate limits (gateway/ratelimit.py, docs/security.md): token buckets in Redis, shared by
# every worker and instance; requests per second and bucket size, per user (the id the
# gateway forwards) and per client address. A rate of 0 turns that limit off.


def _rate_limit(rate: str, rate_default: float, burst: str, burst_default: int):
    limit = env.float(rate, default=rate_default), env.int(burst, default=burst_default)
    if limit[0] < 0 or (limit[0] > 0 and limit[1] < 1):
        raise ImproperlyConfigured(f"{rate} must be 0 (off) or more, with {burst} at least 1.")
    return limit


GATEWAY_RATE_LIMIT_PER_USER, GATEWAY_RATE_LIMIT_BURST = _rate_limit(
    "GATEWAY_RATE_LIMIT_PER_USER", 100.0, "GATEWAY_RATE_LIMIT_BURST", 200
)
GATEWAY_RATE_LIMIT_PER_ADDRESS, GATEWAY_RATE_LIMIT_ADDRESS_BURST = _rate_limit(
    "GATEWAY_RATE_LIMIT_PER_ADDRESS", 500.0, "GATEWAY_RATE_LIMIT_ADDRESS_BURST", 1000
)
# Behind proxies that append the caller's address to X-Forwarded-For (a TLS terminator, a
# load balancer): how many. 0 trusts no X-Forwarded-For and limits REMOTE_ADDR.
GATEWAY_RATE_LIMIT_TRUSTED_PROXIES = env.int("GATEWAY_RATE_LIMIT_TRUSTED_PROXIES", default=0)
if GATEWAY_RATE_LIMIT_TRUSTED_PROXIES < 0:
    raise ImproperlyConfigured("GATEWAY_RATE_LIMIT_TRUSTED_PROXIES must be 0 or more.")
GATEWAY_RATE_LIMIT_REDIS_URL = (
    env.str("GATEWAY_RATE_LIMIT_REDIS_URL", default="") or "redis://127.0.0.1:6379/0"
)
# Connect and answer time-out of each check: an unreachable Redis costs this, then fails open.
GATEWAY_RATE_LIMIT_REDIS_TIMEOUT_SECONDS = env.float(
    "GATEWAY_RATE_LIMIT_REDIS_TIMEOUT_SECONDS", default=0.05
)
if not 0 < GATEWAY_RATE_LIMIT_REDIS_TIMEOUT_SECONDS <= 1:
    raise ImproperlyConfigured("GATEWAY_RATE_LIMIT_REDIS_TIMEOUT_SECONDS must be within (0, 1].")
# Every key starts with it, so stacks sharing one Redis keep their buckets apart.
GATEWAY_RATE_LIMIT_KEY_PREFIX = (
    env.str("GATEWAY_RATE_LIMIT_KEY_PREFIX", default="")
    or f"shop:{env.str('STACK_NAME', default='') or 'main'}:ratelimit:"
)
