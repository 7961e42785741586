"""What both Celery apps of a service share: the workers' (common/celery.py) and the lean one
of beat and Flower (common/lean_celery.py).

Configuration comes from the Django settings module (CELERY_* in common/settings/base.py,
explained there), read as a module through django.conf.settings: reading it does not set
Django up (no apps, no models), so the lean app can use it too. Beat's schedule is built
here once for both apps, so they cannot drift apart.
"""

import os

from celery import Celery, Task

from common.messaging.conf import messaging_settings

# Celery's own publishes (beat's sweeps, wake-ups) wait this long for RabbitMQ's confirm
# (CELERY_BROKER_TRANSPORT_OPTIONS confirm_publish), not for ever: a paused broker must not
# hang beat or a request. Each is only a hint; the next sweep, a second later, does the work.
TASK_CONFIRM_TIMEOUT_SECONDS = 2.0


class ConfirmedTask(Task):
    def apply_async(self, *args, **options):
        options.setdefault("confirm_timeout", TASK_CONFIRM_TIMEOUT_SECONDS)
        return super().apply_async(*args, **options)


def configure_from_settings(app: Celery) -> None:
    """The app's configuration from the settings (CELERY_*), and beat's schedule."""
    _let_the_settings_choose_the_broker()
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.on_after_configure.connect(_add_beat_schedule, weak=False)


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
    """The shared sweeps, beside each service's own CELERY_BEAT_SCHEDULE. Signatures by task
    name: beat needs no task module to send them."""
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
