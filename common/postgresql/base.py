"""Django's PostgreSQL backend, with a client-side deadline for each answer of the server.

PostgreSQL's own time-outs (statement_timeout, lock_timeout, set in OPTIONS["options"])
are enforced by the server: a server that is paused (SIGSTOP, a frozen VM) or cut off
behind a half-open connection enforces nothing, and the kernel still accepts what the
client sends, so a query would wait for ever. Here every round trip on an open connection
(a query, a fetch, a COMMIT) waits at most OPTIONS["answer_timeout"] seconds, a little
longer than statement_timeout so the server's own cancel comes first when it can; then the
connection is closed and psycopg's OperationalError raised, which the API turns into a 503
(common/api/problems.py) and the messaging code into a retry. Connecting is bounded by
libpq's own connect_timeout.
"""

import psycopg
from django.db.backends.postgresql import base
from psycopg import errors


class DeadlineConnection(psycopg.Connection):
    answer_timeout: float | None = None

    def wait(self, gen, interval=0.1, timeout=None):  # psycopg's own default interval
        try:
            return super().wait(gen, interval, self.answer_timeout if timeout is None else timeout)
        except errors._WaitTimeout:
            # Half-way through a protocol exchange: the connection is of no further use.
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"the database server did not answer within {self.answer_timeout:g} s"
            ) from None


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self):
        params = super().get_connection_params()
        self._answer_timeout = params.pop("answer_timeout", None)
        self._connect_timeout = params.get("connect_timeout")
        return params

    def is_usable(self):
        """The health check of a reused connection (CONN_HEALTH_CHECKS) waits no longer
        than a new connection would take: a paused server fails it within a connect
        time-out, not a whole answer deadline, and the request's new connection then fails
        within another."""
        connection = self.connection
        if not isinstance(connection, DeadlineConnection) or not self._connect_timeout:
            return super().is_usable()
        connection.answer_timeout = min(self._answer_timeout, self._connect_timeout)
        try:
            return super().is_usable()
        finally:
            connection.answer_timeout = self._answer_timeout

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        if self._answer_timeout:
            # psycopg.connect() has no parameter for the class of the connection it makes;
            # DeadlineConnection only overrides a method, so the instance can take it on.
            connection.__class__ = DeadlineConnection
            connection.answer_timeout = self._answer_timeout
        return connection
