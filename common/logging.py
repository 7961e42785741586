"""Log formatting and filtering shared by every process (settings LOGGING).

- Times in UTC, ISO 8601 with a Z, whatever the host's zone.
- Celery logs every task it receives and runs, and beat every task it sends: for the
  1 s sweeps that is about six lines a second of noise per service. A task declared with
  `quiet_when_idle=True` has those lines at DEBUG, except the "succeeded" line of a run that
  did something (a return value other than 0), which stays at INFO.
"""

import logging
import time

from celery import current_app

_IDLE_RESULTS = {"0", "None"}


class UTCFormatter(logging.Formatter):
    converter = time.gmtime
    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"


class QuietIdleSweeps(logging.Filter):
    """Demotes the routine lines of quiet tasks to DEBUG (shown when LOG_LEVEL=DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _is_idle_sweep(record):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def _is_idle_sweep(record: logging.LogRecord) -> bool:
    if record.levelno != logging.INFO or not record.name.startswith("celery."):
        return False
    args = record.args
    if record.name == "celery.beat" and isinstance(args, tuple) and len(args) == 2:
        return _is_quiet(args[1])  # "Sending due task %s (%s)": entry, task name
    if isinstance(args, dict) and "name" in args:
        if "return_value" in args and args["return_value"] not in _IDLE_RESULTS:
            return False  # a run that did something
        return _is_quiet(args["name"])  # "received", "succeeded"
    return False


def _is_quiet(task_name) -> bool:
    task = current_app.tasks.get(task_name)
    return bool(getattr(task, "quiet_when_idle", False))
