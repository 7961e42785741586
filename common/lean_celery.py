"""The Celery app of beat and Flower: `celery -A common.lean_celery beat|flower`, with
DJANGO_SETTINGS_MODULE naming the service's settings (Flower: orders_project.settings.flower).

Beat needs only the broker settings, its schedule and the names of the tasks it sends;
Flower only the broker settings and the events. Neither sets Django up: no apps, models,
DRF or admin, about 37 MiB of RSS less per process (docs/performance.md, "Memory"). The
settings are the workers' (common/celery_base.py reads them as a module, without the
apps), and so is beat's schedule: the same sweeps and CELERY_BEAT_SCHEDULE.
"""

import logging.config
import os

from celery import Celery
from celery.signals import import_modules
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from common.celery_base import ConfirmedTask, configure_from_settings
from common.messaging.conf import messaging_settings

# The scheduled tasks declared with quiet_when_idle=True (common/messaging/tasks.py,
# orders_project/orders/tasks.py): beat's "Sending due task" lines of these are at DEBUG
# (common/logging.py, QuietIdleSweeps). Their modules need the models, so they are named
# here; tests/test_lean_celery.py compares this with the tasks themselves.
QUIET_WHEN_IDLE = frozenset(
    {
        "messaging.relay_outbox",
        "messaging.drain_inbox",
        "orders.reask_stale_orders",
        "orders.report_stuck_orders",
    }
)


class SentByName(ConfirmedTask):
    """A scheduled task as beat sends it: by name, to the service's worker, which runs it.
    Registered so that beat's publishes go through ConfirmedTask (the confirm time-out) and
    the log filter finds quiet_when_idle, as with the worker's real task."""

    def run(self, *args, **kwargs):
        raise NotImplementedError(f"{self.name} runs in the service's worker, not here")


def create_lean_celery_app() -> Celery:
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        raise ImproperlyConfigured(
            "Set DJANGO_SETTINGS_MODULE to the service's settings (orders_project.settings."
            "production, ...): beat and Flower read their broker and schedule there."
        )
    # fixups=(): Celery's Django fix-up would call django.setup() when beat or Flower loads
    # the task modules: the one thing this app is there to avoid. Named after the service,
    # as the workers' app is.
    app = Celery(messaging_settings().SERVICE, task_cls=ConfirmedTask, fixups=())
    configure_from_settings(app)
    app.on_after_finalize.connect(_register_scheduled_tasks, weak=False)
    import_modules.connect(_configure_logging, sender=app, weak=False)
    return app


def _register_scheduled_tasks(sender: Celery, **kwargs) -> None:
    """Each task of the schedule, as beat sends it (SentByName), once the app is finalized:
    by then the schedule holds the shared sweeps and the service's CELERY_BEAT_SCHEDULE."""
    for entry in sender.conf.beat_schedule.values():
        name = entry["task"]
        if name not in sender.tasks:
            task = type(
                name, (SentByName,), {"name": name, "quiet_when_idle": name in QUIET_WHEN_IDLE}
            )
            sender.register_task(task())


def _configure_logging(**kwargs) -> None:
    """settings.LOGGING, at the moment Django's setup would have applied it in the workers'
    app (beat and Flower import the task modules: Celery's import_modules signal)."""
    logging.config.dictConfig(settings.LOGGING)


app = create_lean_celery_app()
