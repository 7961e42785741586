"""The metrics of a process group, and a small HTTP server for processes that have no web
server of their own (a Celery worker; the gateway's gunicorn master on METRICS_PORT).

With PROMETHEUS_MULTIPROC_DIR set, a scrape adds up the files every process of the group
wrote there (prometheus_client's multiprocess mode); the directory is emptied when the
group starts (common/observability/launch.py). Without it (tests, a lone process), the
process's own registry.

Nothing here imports Django: gunicorn's configuration and the Celery app factory load it
before Django is set up. The web processes' /metrics view is in views.py.
"""

import logging
import os

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from common.observability.launch import MULTIPROCESS_DIR_VARIABLE

logger = logging.getLogger(__name__)


def process_group_registry() -> CollectorRegistry:
    directory = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    if not directory:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    return registry


def serve_metrics_if_asked(**signal_arguments) -> None:
    """With METRICS_PORT set, the process group's metrics at http://METRICS_ADDRESS:
    METRICS_PORT/metrics (address default 0.0.0.0, a container's), from a thread of this
    process: a Celery worker's main process once its pool runs (worker_ready), the
    gateway's gunicorn master (deploy/gunicorn.conf.py)."""
    port = os.environ.get("METRICS_PORT")
    if not port:
        return
    address = os.environ.get("METRICS_ADDRESS", "0.0.0.0")  # noqa: S104 - a container's
    try:
        start_http_server(int(port), addr=address, registry=process_group_registry())
    except (OSError, ValueError) as exc:
        # Metrics are not worth a crash loop of the process that does the work.
        logger.error("Cannot serve metrics on %s:%s: %s", address, port, exc)
        return
    logger.info("Metrics served on %s:%s/metrics", address, port)
