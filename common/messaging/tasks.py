"""Celery tasks: thin, with stable names that beat schedules and wake-ups refer to."""

import logging

from celery import shared_task

from common.messaging import cleanup, drain, relay

logger = logging.getLogger(__name__)


# quiet_when_idle: the 1 s sweeps log at DEBUG when they find nothing (common/logging.py).
@shared_task(name="messaging.relay_outbox", ignore_result=True, quiet_when_idle=True)
def relay_outbox() -> int:
    return relay.relay_outbox()


@shared_task(name="messaging.drain_inbox", ignore_result=True, quiet_when_idle=True)
def drain_inbox() -> int:
    return drain.drain_inbox()


@shared_task(name="messaging.cleanup", ignore_result=True)
def cleanup_messages() -> dict[str, int]:
    return cleanup.delete_old_messages()


def wake_relay() -> None:
    _wake(relay_outbox)


def wake_drain() -> None:
    _wake(drain_inbox)


def _wake(task) -> None:
    # A wake-up only shortens latency; the beat sweep finds the rows anyway. So it must
    # never fail the caller (whose transaction has already committed): no retries, log only.
    try:
        task.apply_async(retry=False)
    except Exception as exc:
        logger.warning("Could not wake %s (the next sweep will run it): %s", task.name, exc)
