"""Log formatting and filtering shared by every process (settings LOGGING).

- Times in UTC, ISO 8601 with a Z, whatever the host's zone.
- Every line carries the context of the work it belongs to (common/observability/context.py):
  the request id, the trace and span ids, the order and message ids where known.
- LOG_FORMAT=plain (a line a person reads: the context at its end) or json (one object per
  line, for a log pipeline; the default of the production settings).
- Celery logs every task it receives and runs, and beat every task it sends: for the
  1 s sweeps that is about six lines a second of noise per service. A task declared with
  `quiet_when_idle=True` has those lines at DEBUG, except the "succeeded" line of a run that
  did something (a return value other than 0), which stays at INFO.
"""

import json
import logging
import os
import sys
import time

from common.observability import context

_IDLE_RESULTS = {"0", "None"}
LOG_FORMATS = ("plain", "json")
# The context a plain line ends with; trace and span ids are in the JSON lines only.
PLAIN_CONTEXT = ("request_id", "order_id", "message_id")


def logging_settings(log_format: str, level: str) -> dict:
    """settings.LOGGING: everything to stdout, in the format asked for."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {
                "()": "common.logging.PlainFormatter",
                "format": "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s",
            },
            "json": {"()": "common.logging.JsonFormatter"},
        },
        "filters": {"quiet_idle_sweeps": {"()": "common.logging.QuietIdleSweeps"}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": log_format,
                "filters": ["quiet_idle_sweeps"],
            },
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            # 4xx answers are the API working as designed; keep them out of the warning stream.
            "django.request": {"level": "ERROR"},
            # The access line of each request comes from common/observability/http.py.
            "django.server": {"level": "WARNING"},
        },
    }


def gunicorn_logging_settings(level: str) -> dict:
    """gunicorn's logconfig_dict: its own lines (start, worker boot and exit) in the format of
    the Django lines (LOG_FORMAT, else json under production settings); no access lines (each
    request's comes from the application, with its request id: common/observability/http.py).
    """
    settings_module = os.environ.get("DJANGO_SETTINGS_MODULE", "")
    default = "json" if settings_module.endswith(".production") else "plain"
    config = logging_settings(os.environ.get("LOG_FORMAT") or default, level.upper())
    config["loggers"] = {
        "gunicorn.error": {"level": level.upper(), "propagate": True},
        "gunicorn.access": {"level": "WARNING", "propagate": False},
    }
    return config


class UTCFormatter(logging.Formatter):
    converter = time.gmtime
    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"


class PlainFormatter(UTCFormatter):
    """A line for a person, with the work's context at its end: `... request_id=r-1`."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = context.current()
        suffix = " ".join(f"{name}={fields[name]}" for name in PLAIN_CONTEXT if name in fields)
        return f"{line}  {suffix}" if suffix else line


class JsonFormatter(UTCFormatter):
    """One JSON object per line: timestamp (UTC), level, logger, message, process, the
    context fields that are known, and the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "timestamp": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
            **context.current(),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return json.dumps(document, ensure_ascii=False, default=str)


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
    # Celery's lines come from a process that loaded Celery: it is looked up, not imported,
    # so that the processes without tasks (the gateway, gunicorn's masters) do not load it
    # for their logging (about 7 MiB each; docs/performance.md, Memory).
    celery = sys.modules.get("celery")
    task = celery.current_app.tasks.get(task_name) if celery else None
    return bool(getattr(task, "quiet_when_idle", False))
