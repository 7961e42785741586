"""A server that stops answering (paused, frozen, cut off) cannot hang a request or a
worker: every round trip has a deadline (common/postgresql/base.py). The pause is real:
SIGSTOP of the PostgreSQL backend process that serves the connection under test, so the
rest of the server (and everything else on it) goes on."""

import time

import pytest
from django.db import OperationalError, connection

from common.db import without_statement_time_out

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_server_timeouts_are_set_on_every_connection():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('statement_timeout'), current_setting('lock_timeout'),"
            " current_setting('idle_in_transaction_session_timeout')"
        )
        assert cursor.fetchone() == ("5s", "3s", "30s")
    assert connection.connection.answer_timeout == 7.0


def test_a_paused_server_fails_the_query_within_the_deadline(paused_database):
    started = time.monotonic()
    with (
        pytest.raises(OperationalError, match="did not answer within 1 s"),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT 1")
    assert time.monotonic() - started < 3
    assert connection.connection is None or connection.connection.closed


def test_after_the_deadline_a_new_connection_works(paused_database):
    with pytest.raises(OperationalError), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    connection.close()

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != paused_database


def test_a_health_check_gives_up_within_a_connect_time_out(paused_database):
    """CONN_HEALTH_CHECKS: a reused connection to a paused server is found dead after at
    most DB_CONNECT_TIMEOUT_SECONDS (3 s), not a whole answer deadline (7 s)."""
    connection.connection.answer_timeout = 7.0  # as configured

    started = time.monotonic()
    usable = connection.is_usable()

    assert usable is False
    assert time.monotonic() - started < 4


def test_a_long_job_runs_without_the_statement_time_out_and_only_inside():
    with without_statement_time_out(), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('statement_timeout')")
        assert cursor.fetchone() == ("0",)
        assert connection.connection.answer_timeout is None

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('statement_timeout')")
        assert cursor.fetchone() == ("5s",)
    assert connection.connection.answer_timeout == 7.0
