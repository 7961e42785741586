"""Log lines: UTC times; the 1 s sweeps are quiet when they find nothing (common/logging.py)."""

import logging

import pytest
from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS

# The worker and beat discover the tasks at start-up; here they are imported.
import common.messaging.tasks  # noqa: F401
from common.logging import QuietIdleSweeps, UTCFormatter


def record(name: str, msg: str, args) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)


def success(task: str, return_value: str) -> logging.LogRecord:
    args = {"id": "x", "name": task, "return_value": return_value, "runtime": 0.01}
    return record("celery.app.trace", LOG_SUCCESS, args)


@pytest.fixture
def info_level():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    yield
    root.setLevel(level)


@pytest.mark.parametrize(
    "line",
    [
        success("messaging.relay_outbox", "0"),
        record(
            "celery.worker.strategy", LOG_RECEIVED, {"id": "x", "name": "messaging.drain_inbox"}
        ),
        record(
            "celery.beat",
            "Scheduler: Sending due task %s (%s)",
            ("relay outbox", "messaging.relay_outbox"),
        ),
    ],
)
def test_an_idle_sweep_is_debug(info_level, line):
    assert QuietIdleSweeps().filter(line) is False
    assert line.levelname == "DEBUG"


@pytest.mark.parametrize(
    "line",
    [
        success("messaging.relay_outbox", "12"),  # it published something
        success("messaging.cleanup", "{'outbox': 0}"),  # not a quiet task
        record("common.messaging.relay", "Relayed %s", (0,)),
    ],
)
def test_work_and_other_tasks_stay_info(info_level, line):
    assert QuietIdleSweeps().filter(line) is True
    assert line.levelname == "INFO"


def test_with_log_level_debug_idle_sweeps_show(info_level):
    logging.getLogger().setLevel(logging.DEBUG)
    assert QuietIdleSweeps().filter(success("messaging.drain_inbox", "0")) is True


def test_times_are_utc_with_a_z():
    line = record("x", "hello", None)
    line.created, line.msecs = 0.0, 0.0
    formatted = UTCFormatter("%(asctime)s %(message)s").format(line)
    assert formatted == "1970-01-01T00:00:00.000Z hello"
