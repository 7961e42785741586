"""The one Celery app factory: each service calls it from its <service>_project/celery.py.

Configuration comes from Django settings (CELERY_* in common/settings/base.py, explained
there); the factory adds the messaging consumer bootstep and the beat schedule.
"""

import os

from celery import Celery, Task
from celery.signals import worker_ready

from common.messaging.conf import messaging_settings
from common.observability.exposition import serve_metrics_if_asked

# Celery's own publishes (beat's sweeps, wake-ups) wait this long for RabbitMQ's confirm
# (CELERY_BROKER_TRANSPORT_OPTIONS confirm_publish), not for ever: a paused broker must not
# hang beat or a request. Each is only a hint; the next sweep, a second later, does the work.
TASK_CONFIRM_TIMEOUT_SECONDS = 2.0


class ConfirmedTask(Task):
    def apply_async(self, *args, **options):
        options.setdefault("confirm_timeout", TASK_CONFIRM_TIMEOUT_SECONDS)
        return super().apply_async(*args, **options)


def create_celery_app(service: str) -> Celery:
    _let_the_settings_choose_the_broker()
    app = Celery(service, task_cls=ConfirmedTask)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.autodiscover_tasks()
    # By name: Celery loads the step when the worker builds its consumer, after its Django
    # fix-up has set Django up; the step's module needs the models, this one runs before.
    app.steps["consumer"].add("common.messaging.consumer:InboxConsumerStep")
    # MESSAGING PUBLISH_AFTER_COMMIT_BY "worker": the worker's main process LISTENs for
    # committed events and publishes them (the step includes itself only in that mode).
    app.steps["worker"].add("common.messaging.listener:OutboxListenerStep")
    app.on_after_configure.connect(_add_beat_schedule, weak=False)
    # The worker's metrics server starts once its pool runs: threads are not forked.
    worker_ready.connect(serve_metrics_if_asked, weak=False)
    return app


def _let_the_settings_choose_the_broker() -> None:
    """The `celery` command copies the environment's BROKER_URL (the variable of its --broker
    option) into CELERY_BROKER_URL, which Celery prefers to any configuration. BROKER_URL is
    the administrator's here: each process group's own URL comes from the settings
    (ORDERS_BROKER_URL, ...; docs/security.md), so that copy goes. A --broker given on the
    command line (another value) stays."""
    copied = os.environ.get("CELERY_BROKER_URL")
    if copied and copied == os.environ.get("BROKER_URL"):
        del os.environ["CELERY_BROKER_URL"]


def _add_beat_schedule(sender: Celery, **kwargs) -> None:
    conf = messaging_settings()
    sweep = conf.SWEEP_INTERVAL_SECONDS
    # A sweep that no worker took within a few intervals is pointless: the next one does
    # the same work. Expiring them keeps a stopped worker from finding a pile on restart.
    sweep_options = {"expires": max(5.0, 5 * sweep)}
    sender.add_periodic_task(
        sweep,
        sender.signature("messaging.relay_outbox"),
        name="relay outbox",
        options=sweep_options,
    )
    sender.add_periodic_task(
        sweep, sender.signature("messaging.drain_inbox"), name="drain inbox", options=sweep_options
    )
    sender.add_periodic_task(
        conf.CLEANUP_INTERVAL_SECONDS,
        sender.signature("messaging.cleanup"),
        name="cleanup messages",
    )
    sender.add_periodic_task(
        3600.0, sender.signature("idempotency.purge_expired"), name="purge idempotency keys"
    )
