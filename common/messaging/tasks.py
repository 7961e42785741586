"""Celery tasks: thin, with stable names that beat schedules and wake-ups refer to."""

from celery import shared_task

from common.messaging import cleanup, drain, relay


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
