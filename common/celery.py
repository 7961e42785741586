"""The Celery app factory of a service's web processes and workers: each service calls it
from its <service>_project/celery.py.

Configuration and beat's schedule come from common/celery_base.py, shared with the lean app
of beat and Flower (common/lean_celery.py); this factory adds what a worker needs: its tasks
(Celery's Django fix-up sets Django up), the messaging consumer bootstep, the metrics server.
"""

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_ready
from django.db import close_old_connections

from common.celery_base import ConfirmedTask, configure_from_settings
from common.observability.exposition import serve_metrics_if_asked


def create_celery_app(service: str) -> Celery:
    app = Celery(service, task_cls=ConfirmedTask)
    configure_from_settings(app)
    app.autodiscover_tasks()
    # By name: Celery loads the step when the worker builds its consumer, after its Django
    # fix-up has set Django up; the step's module needs the models, this one runs before.
    app.steps["consumer"].add("common.messaging.consumer:InboxConsumerStep")
    # MESSAGING PUBLISH_AFTER_COMMIT_BY "worker": the worker's main process LISTENs for
    # committed events and publishes them (the step includes itself only in that mode).
    app.steps["worker"].add("common.messaging.listener:OutboxListenerStep")
    # The worker's metrics server starts once its pool runs: threads are not forked.
    worker_ready.connect(serve_metrics_if_asked, weak=False)
    keep_database_connections_across_tasks(app)
    return app


# Celery's Django fix-up reuses a task's database connections for this many tasks (without
# it, for none); the signals below close them when Django would close a request's instead.
TASKS_PER_DATABASE_CONNECTION = 1_000_000_000


def keep_database_connections_across_tasks(app: Celery) -> None:
    """Celery's Django fix-up closes every database connection before and after each task,
    so each of beat's sweeps (two a second per service) opened a PostgreSQL session of its
    own: 60 a minute per database, measured. A task reuses its connection instead, closed
    as Django closes a request's: after an error left it unusable, or once older than
    CONN_MAX_AGE; CONN_HEALTH_CHECKS then checks it before the next task's first query, so
    a database restart between tasks costs no task."""
    app.conf.CELERY_DB_REUSE_MAX = TASKS_PER_DATABASE_CONNECTION
    task_prerun.connect(_close_old_connections, weak=False)
    task_postrun.connect(_close_old_connections, weak=False)


def _close_old_connections(**_signal) -> None:
    close_old_connections()
