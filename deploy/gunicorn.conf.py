"""gunicorn settings shared by the web services; each value can be set from the environment.

Bind address comes from the command line (manage_all.sh, docker-compose.yml): one config
for every service.
"""

import multiprocessing
import os

# Sync workers: a request holds a database connection for its whole life, so concurrency
# is bounded by workers x threads, which the database pool is sized for.
workers = int(os.environ.get("GUNICORN_WORKERS", min(4, multiprocessing.cpu_count() + 1)))
threads = int(os.environ.get("GUNICORN_THREADS", 2))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 10
keepalive = 5
# Logs go to stdout/stderr; manage_all.sh sends them to var/log/, containers to their logs.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Restart workers now and then so a slow leak cannot grow without bound.
max_requests = 5000
max_requests_jitter = 500
