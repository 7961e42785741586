"""gunicorn settings shared by the web services; each value can be set from the environment.

Bind address comes from the command line (manage_all.sh, docker-compose.yml): one config
for every service.
"""

import ctypes
import multiprocessing
import os
import signal

from gunicorn.glogging import Logger

from common.logging import gunicorn_logging_settings
from common.observability.exposition import serve_metrics_if_asked
from common.observability.launch import MULTIPROCESS_DIR_VARIABLE
from common.observability.multiprocess import fold_dead_process

PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>

# The gateway is known by its settings, which manage_all.sh, compose and Kubernetes all set.
_gateway = os.environ.get("DJANGO_SETTINGS_MODULE", "").startswith("gateway_project.")
# Orders and Payments: sync workers; a request holds a database connection for its whole
# life, so concurrency is bounded by workers x threads, which the database pool is sized for.
# The gateway runs gevent workers instead (GUNICORN_WORKER_CLASS chooses otherwise): its
# live-status clients wait for minutes, and a waiting client then costs a greenlet, not a
# thread (docs/gateway.md). It holds no database connection per request, so no pool bounds
# its concurrency; each worker takes up to worker_connections clients at once (at least
# 1,000 waiting ones each).
worker_class = os.environ.get("GUNICORN_WORKER_CLASS") or ("gevent" if _gateway else "sync")
# Workers per tier. Each is a whole Django process (70-85 MiB of RSS). One gevent worker
# serves the gateway's concurrency, which is waiting on the services, at the throughput of
# two and 85 MiB less (docs/performance.md, Memory), so the gateway has its own count,
# GATEWAY_WORKERS (default 1), and GUNICORN_WORKERS is the services' only: one per two
# cores (at least one, at most four) with four threads each. The other cores are the
# workers', the gateway's and the databases': on two cores one worker of four threads
# served more orders than two of two, at 150 MiB less for both services
# (docs/performance.md, "One web worker per two cores"). No preload_app: measured, it
# saves 15 MiB of PSS per service and adds 40 MiB of RSS (the master then holds the app
# too), and the gateway's gevent patching must come before its imports.
if _gateway:
    workers = int(os.environ.get("GATEWAY_WORKERS", 1))
else:
    default_workers = min(4, max(1, multiprocessing.cpu_count() // 2))
    workers = int(os.environ.get("GUNICORN_WORKERS", default_workers))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", 2000))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 10
keepalive = 5
# Logs go to stdout; manage_all.sh sends them to var/log/, containers to their logs. The
# lines are formatted as the application's (LOG_FORMAT); each request's access line comes
# from the application, which knows its route and request id (common/observability/http.py).
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
logconfig_dict = gunicorn_logging_settings(loglevel)


class ApplicationAccessLog(Logger):
    """gunicorn's logger without gunicorn's access line. With a logconfig_dict gunicorn
    builds that line's fields for every request (the environ, the headers, a timestamp) and
    only then drops it at the access logger's WARNING level; the application writes each
    request's line itself."""

    access_log_enabled = False


logger_class = ApplicationAccessLog
# A tier of several workers restarts each now and then so a slow leak cannot grow without
# bound: one at a time, and the gateway sends a request again when a kept-alive connection
# closed under it (gateway_project/gateway/upstream.py). A tier of one worker is not
# recycled unless GATEWAY_MAX_REQUESTS (the gateway) or GUNICORN_MAX_REQUESTS (the
# services) asks: its restart leaves the tier without a worker for the second a Django
# process takes to start, and closes every client connection at once (the gateway's:
# kept-alive ones as a request arrives, the client's POST fails with a read error, seen 13
# times at 200 orders/s in the benchmark; live-status streams), which clients cannot tell
# from a failure. Their memory stays flat under load (docs/performance.md).
max_requests = int(
    os.environ.get(
        "GATEWAY_MAX_REQUESTS" if _gateway else "GUNICORN_MAX_REQUESTS",
        5000 if workers > 1 else 0,
    )
)
max_requests_jitter = max_requests // 10
# gunicorn's runtime control socket is one path per user (~/.gunicorn): every gunicorn of
# every stack on the machine would share it. Nothing here uses it.
control_socket_disable = True


def when_ready(server):
    """With METRICS_PORT set (compose's gateway), the master serves its workers' metrics on
    that port: for a Prometheus that is no loopback client of /metrics."""
    serve_metrics_if_asked()


def child_exit(server, worker):
    """A replaced worker's metrics stay in the sums, in one file for all the dead."""
    if directory := os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        fold_dead_process(directory, worker.pid)


def post_fork(server, worker):
    """A worker dies with its master: after a kill -9 of the master, orphaned workers would
    keep the listening socket, and the master the supervisor starts could not bind it."""
    die_with_parent(server.pid)


def die_with_parent(parent_pid: int) -> None:
    # Linux's PR_SET_PDEATHSIG; elsewhere workers notice on their own, within a timeout.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the master died before prctl took effect
        os._exit(1)
