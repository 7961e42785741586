"""Settings every service shares. A service's `settings/base.py` star-imports this module
and adds its name, database, apps and URLs; `test` and `production` refine that.

Secrets have no defaults here: DJANGO_SECRET_KEY must come from the environment (or .env).
"""

from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured

from common.logging import logging_settings
from common.settings.env import REPO_ROOT, env

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "common.idempotency",
    "common.messaging",
    "axes",  # the admin's failed logins (below)
]

MIDDLEWARE = [
    "common.observability.http.ObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: answers a locked-out login with 429.
    "axes.middleware.AxesMiddleware",
]

# The admin (docs/security.md, "Admin"). Passwords set through the admin or `changepassword`
# (and the superuser manage_all.sh creates) must pass Django's four validators.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login throttling by django-axes: after AXES_FAILURE_LIMIT failed logins for one username
# from one address, that pair is refused (429, even with the right password) for the
# cool-off time; a successful login resets its count. Recorded in the service's database, so
# it holds for every gunicorn worker. `manage.py axes_reset` lifts every lock-out.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("ADMIN_LOGIN_LOCKOUT_MINUTES", default=15.0))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# No start-up line in every process (and in the output of every manage.py command); a
# lock-out is still logged, at WARNING.
AXES_VERBOSE = False
# The address is the connection's (REMOTE_ADDR; no django-ipware): the admins listen on the
# host's loopback, with no proxy in front whose X-Forwarded-For could be believed.

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# The public paths of the contract have no trailing slash (/accounts/deposit); never
# redirect a POST to a slash-suffixed URL.
APPEND_SLASH = False

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=str(REPO_ROOT / "var" / "static"))
# The gateway's page (/) has assets of its own. One collection holds every process's static
# files (manage_all.sh and the Dockerfile run it with a service's settings), so it looks in
# the gateway's folder too; the gateway itself finds them as its app's.
STATICFILES_DIRS = [REPO_ROOT / "gateway_project" / "gateway" / "static"]

# Request bodies of the API are small JSON documents.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024


def database_from_env(var: str, default_url: str) -> dict:
    """One service's database from its own URL variable (PAYMENTS_DATABASE_URL, ...)."""
    database = env.db_url(var, default=default_url)
    # Short-lived connections are closed at the end of each request; health checks keep
    # a persistent one from going stale across a database restart.
    database["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
    database["CONN_HEALTH_CHECKS"] = True
    if database["ENGINE"] == "django.db.backends.sqlite3":
        # The embedded mode (manage_all.sh without PostgreSQL): writers take the database
        # lock when a transaction begins and wait for it rather than fail; WAL lets readers
        # go on meanwhile.
        database["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    if database["ENGINE"] == "django.db.backends.postgresql":
        database["ENGINE"] = "common.postgresql"  # a deadline for every answer
        database["OPTIONS"] = {**database.get("OPTIONS", {}), **postgres_timeouts()}
        if database_pooler() == "pgbouncer":
            behind_transaction_pooler(database)
    database.setdefault("TEST", {})
    if env.str("TEST_DATABASE_SUFFIX", default=""):
        # Lets two test runs on one server stay apart (CI and a developer, say).
        database["TEST"]["NAME"] = f"test_{database['NAME']}_{env.str('TEST_DATABASE_SUFFIX')}"
    return database


def database_pooler() -> str:
    """DATABASE_POOLER: "" (connections straight to PostgreSQL) or "pgbouncer" (a
    transaction-mode PgBouncer in between, as in deploy/k8s/)."""
    pooler = env.str("DATABASE_POOLER", default="")
    if pooler not in ("", "pgbouncer"):
        raise ImproperlyConfigured(f'DATABASE_POOLER must be "" or "pgbouncer", not {pooler!r}')
    return pooler


def behind_transaction_pooler(database: dict) -> None:
    """What a transaction-mode pooler needs (docs/kubernetes.md, "PgBouncer"): each
    transaction may run on another server connection, so nothing may outlive one.

    - No server-side cursors: Django declares them WITH HOLD outside a transaction
      (QuerySet.iterator()), and the next fetch would find another session.
    - No prepared statements (psycopg 3's prepare_threshold) and client-side binding only:
      a statement prepared on one server connection is unknown to the next (PgBouncer 1.18,
      Debian's, does not track them).
    - Django's own pool off: PgBouncer is the pool; two would hold idle connections twice.
    - No `options` startup parameter: PgBouncer refuses it ("unsupported startup
      parameter"). The pooler sets the same server time-outs on every server connection
      (connect_query in its pgbouncer.ini); the client-side answer deadline stays here.
    CONN_MAX_AGE stays: a persistent connection holds a client slot of PgBouncer (cheap),
    not a server connection. select_for_update, SET LOCAL and pg_advisory_xact_lock live
    within one transaction and work as before.
    """
    database["DISABLE_SERVER_SIDE_CURSORS"] = True
    options = database["OPTIONS"]
    options.pop("options", None)
    options.update(prepare_threshold=None, server_side_binding=False, pool=False)


def postgres_timeouts() -> dict:
    """Nothing waits for PostgreSQL for ever (docs/operations.md, "Time-outs").

    The server cancels a statement after DB_STATEMENT_TIMEOUT_SECONDS and a lock wait after
    DB_LOCK_TIMEOUT_SECONDS, and ends a session left idle in a transaction. A paused or
    unreachable server enforces none of that: the client gives up connecting after
    DB_CONNECT_TIMEOUT_SECONDS, and waiting for any answer after DB_ANSWER_TIMEOUT_SECONDS
    (default: the statement time-out + 2 s, so the server's own cancel comes first;
    common/postgresql/base.py). 0 turns a limit off; a statement time-out of 0 (a long
    migration) turns the answer deadline off too unless it is set.
    """
    statement = env.float("DB_STATEMENT_TIMEOUT_SECONDS", default=5.0)
    lock = env.float("DB_LOCK_TIMEOUT_SECONDS", default=3.0)
    idle = env.float("DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS", default=30.0)
    answer = env.float("DB_ANSWER_TIMEOUT_SECONDS", default=statement + 2 if statement else 0)
    server = {
        "statement_timeout": statement,
        "lock_timeout": lock,
        "idle_in_transaction_session_timeout": idle,
    }
    return {
        "connect_timeout": env.int("DB_CONNECT_TIMEOUT_SECONDS", default=3),
        "options": " ".join(f"-c {name}={int(seconds * 1000)}" for name, seconds in server.items()),
        "answer_timeout": answer or None,
    }


def longest_database_wait(timeouts: dict) -> float | None:
    """The longest a request can wait for its database before it fails: one answer, or a
    reused connection's health check (which waits at most a connect time-out, see
    common/postgresql/base.py) and a new connection after it."""
    if not timeouts["answer_timeout"]:
        return None
    return max(timeouts["answer_timeout"], 2 * timeouts["connect_timeout"])


REST_FRAMEWORK = {
    # Every error leaves the API as RFC 9457 problem details (see common/api/problems.py).
    "EXCEPTION_HANDLER": "common.api.problems.problem_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["common.api.parsers.StrictJSONParser"],
    # The caller is named by the X-User-Id header (common/api/views.py), not by a session.
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    # API calls must come through the gateway (common/api/internal.py).
    "DEFAULT_PERMISSION_CLASSES": ["common.api.internal.FromGateway"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Money is a string on the wire ("100.00"), never a float.
    "COERCE_DECIMAL_TO_STRING": True,
}

SPECTACULAR_SETTINGS = {
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# plain for a person at a terminal (manage_all.sh), json for a log pipeline (production).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = logging_settings(LOG_FORMAT, LOG_LEVEL)

# The shared secret the gateway sends with every call; empty turns the check off (dev).
INTERNAL_API_TOKEN = env.str("INTERNAL_API_TOKEN", default="")

# Idempotency-Key records are kept at least this long (Stripe keeps them 24 hours).
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)


def publisher_after_commit() -> str:
    """MESSAGING_PUBLISH_AFTER_COMMIT_BY (docs/messaging.md): "worker" unless a
    transaction-mode PgBouncer is in between. "worker" wakes the worker with LISTEN/NOTIFY,
    and PgBouncer does not carry a LISTEN (the session it ran in goes back to the pool):
    asked for there, it is refused at start, not silently a second late."""
    default = "committer" if database_pooler() == "pgbouncer" else "worker"
    publisher = env.str("MESSAGING_PUBLISH_AFTER_COMMIT_BY", default=default)
    if publisher == "worker" and database_pooler() == "pgbouncer":
        raise ImproperlyConfigured(
            "MESSAGING_PUBLISH_AFTER_COMMIT_BY=worker needs LISTEN on a direct connection, "
            "which DATABASE_POOLER=pgbouncer (transaction mode) does not give: use committer"
        )
    return publisher


# Messaging (common/messaging, docs/messaging.md). Each service adds its SERVICE and
# CONSUME; the defaults of every other key are in common/messaging/conf.py.
MESSAGING_QUEUE_PREFIX = env.str("MESSAGING_QUEUE_PREFIX", default="")
MESSAGING = {
    "QUEUE_PREFIX": MESSAGING_QUEUE_PREFIX,
    "SWEEP_INTERVAL_SECONDS": env.float("MESSAGING_SWEEP_INTERVAL_SECONDS", default=1.0),
    "MAX_ATTEMPTS": env.int("MESSAGING_MAX_ATTEMPTS", default=8),
    "RETENTION_DAYS": env.float("MESSAGING_RETENTION_DAYS", default=7.0),
    "QUEUE_TYPE": env.str("MESSAGING_QUEUE_TYPE", default="classic"),
    "DELIVERY_LIMIT": env.int("MESSAGING_DELIVERY_LIMIT", default=500),
    "PUBLISH_AFTER_COMMIT_BY": publisher_after_commit(),
}


def broker_settings(variable: str = "BROKER_URL") -> tuple[str, dict]:
    """(CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS) of a process group: its own URL
    (ORDERS_BROKER_URL, ...: a broker user allowed only what that group uses, made by
    deploy/broker_users.py; docs/security.md), else BROKER_URL."""
    url = env.str(variable, default="") or env.str(
        "BROKER_URL", default="amqp://guest:guest@127.0.0.1:5672//"
    )
    if url.startswith("filesystem://"):
        # The embedded mode's broker: messages are files in one folder all processes share.
        folder = env.str("BROKER_FOLDER", default=str(REPO_ROOT / "var" / "broker"))
        return url, {
            "data_folder_in": folder,
            "data_folder_out": folder,
            "control_folder": f"{folder}/control",
        }
    # Every publish on the app's connections (task wake-ups and the relay) waits for the
    # broker's confirm, so "sent" means the broker has the message.
    return url, {"confirm_publish": True}


def own_exchange_task_routes(queue: str) -> dict:
    """CELERY_TASK_ROUTES that publish every task to its queue's own exchange (of the same
    name, which the worker declares and binds). Celery's default for a direct queue is the
    default exchange, which reaches every queue, so the services' broker users may not write
    to it (docs/security.md, "Least privilege")."""
    return {"*": {"queue": queue, "exchange": queue, "routing_key": queue}}


# Celery (common/celery.py is the app factory). The settings that matter for not losing work:
# each service reads its own broker URL (its settings/base.py); this is the shared default.
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = broker_settings()
# Heartbeats detect a dead broker connection (a half-open TCP socket) within ~2 intervals.
CELERY_BROKER_HEARTBEAT = env.int("BROKER_HEARTBEAT_SECONDS", default=30)
# Keep reconnecting for ever, also at start-up: the broker may come up after the worker.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A task is acked after it ran, and requeued if its worker process died mid-way: the
# relay and drain are idempotent sweeps, so running one twice is harmless, losing one is not.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# After a lost broker connection such tasks cannot be acked anyway and come back: cancel
# them at once (Celery 6's default) rather than let them finish into a dead channel.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# Run workers with the prefork pool (manage_all.sh, compose). The threads pool acks from
# its threads on the consumer's connection, which py-amqp does not make thread-safe: seen
# here to deadlock the worker after a broker reconnect.
# One reserved task per worker process: with acks_late, prefetched tasks would wait behind
# a slow one instead of going to an idle worker.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Results are never read; the database rows are the state.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
# Each service sets CELERY_TASK_DEFAULT_QUEUE to its own (prefixed) queue: the services share
# the broker, and a worker must only receive its own service's tasks.
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Django's LOGGING configures the root logger; the worker must not replace it.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Events feed Flower's dashboard. Their exchange (and Flower's queues on it) carry the queue
# prefix, so that each stack's broker users are allowed their own only (deploy/broker_users.py).
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_EVENT_EXCHANGE = f"{MESSAGING_QUEUE_PREFIX}celeryev"
CELERY_EVENT_QUEUE_PREFIX = f"{MESSAGING_QUEUE_PREFIX}celeryev"
