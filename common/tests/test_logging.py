"""Log lines: UTC times; the 1 s sweeps are quiet when they find nothing; the work's context
on every line, as plain text or JSON (common/logging.py)."""

import json
import logging
import sys

import pytest
from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS

# The worker and beat discover the tasks at start-up; here they are imported.
import common.messaging.tasks  # noqa: F401
from common.logging import (
    JsonFormatter,
    PlainFormatter,
    QuietIdleSweeps,
    UTCFormatter,
    logging_settings,
)
from common.observability import context


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


PLAIN_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


def test_a_plain_line_ends_with_the_context_of_its_work():
    with context.bound(request_id="req-7", order_id="o-1", trace_id="a" * 32):
        line = PlainFormatter(PLAIN_FORMAT).format(record("orders", "Order %s placed", ("o-1",)))

    assert line.endswith("orders: Order o-1 placed  request_id=req-7 order_id=o-1")
    assert PlainFormatter(PLAIN_FORMAT).format(record("x", "outside", None)).endswith(": outside")


def test_a_json_line_is_one_object_with_the_context_that_is_known():
    line = record("payments", "Order %s paid", ("o-9",))
    line.created, line.msecs = 0.0, 0.0
    with context.bound(request_id="req-1", trace_id="b" * 32, span_id="c" * 16, message_id="m"):
        document = json.loads(JsonFormatter().format(line))

    assert document == {
        "timestamp": "1970-01-01T00:00:00.000Z",
        "level": "INFO",
        "logger": "payments",
        "message": "Order o-9 paid",
        "process": line.process,
        "request_id": "req-1",
        "trace_id": "b" * 32,
        "span_id": "c" * 16,
        "message_id": "m",
    }


def test_a_json_line_keeps_the_traceback_and_stays_one_line():
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        line = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, None)
        line.exc_info = sys.exc_info()

    formatted = JsonFormatter().format(line)

    assert "\n" not in formatted
    assert "ValueError: bad" in json.loads(formatted)["exception"]


def test_an_unknown_log_format_is_refused():
    assert logging_settings("json", "INFO")["handlers"]["stdout"]["formatter"] == "json"
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logging_settings("xml", "INFO")
