"""The gateway refuses to start with time-outs that do not nest (common/settings/timeouts.py)."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from common.settings.base import longest_database_wait, postgres_timeouts
from common.settings.timeouts import check_timeouts_nest
from tests.stack import REPO_ROOT

NESTED = {
    "database_answer": 7.0,
    "upstream_connect": 2.0,
    "upstream_read": 10.0,
    "gunicorn_timeout": 30.0,
}


def test_the_defaults_nest():
    check_timeouts_nest(**NESTED)
    assert settings.UPSTREAM_READ_TIMEOUT_SECONDS == 10.0
    # The answer deadline (7 s) and a health check plus a reconnect (2 x 3 s).
    assert longest_database_wait(postgres_timeouts()) == 7.0


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"upstream_read": 7.0}, "UPSTREAM_READ_TIMEOUT_SECONDS"),
        ({"database_answer": None}, "no database answer deadline"),
        ({"gunicorn_timeout": 24.0}, "GUNICORN_TIMEOUT"),
    ],
)
def test_crossed_time_outs_are_refused(change, complaint):
    with pytest.raises(ImproperlyConfigured, match=complaint):
        check_timeouts_nest(**(NESTED | change))


def test_the_gateway_does_not_start_with_crossed_time_outs():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "gateway_project.settings.base",
            "DB_STATEMENT_TIMEOUT_SECONDS": "20",
        },
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "must exceed the longest wait of a service for its database" in result.stderr
