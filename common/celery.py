"""The Celery app factory of a service's web processes and workers: each service calls it
from its <service>_project/celery.py.

Configuration and beat's schedule come from common/celery_base.py, shared with the lean app
of beat and Flower (common/lean_celery.py); this factory adds what a worker needs: its tasks
(Celery's Django fix-up sets Django up), the messaging consumer bootstep, the metrics server.
"""

from celery import Celery
from celery.signals import worker_ready

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
    return app
