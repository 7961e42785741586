"""Database helpers the ORM does not offer directly.

PostgreSQL's own statements (SET LOCAL, SET CONSTRAINTS) are skipped in the embedded mode,
whose SQLite the settings declare with EMBEDDED_DATABASE.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.conf import settings
from django.db import connection, models, transaction

M = TypeVar("M", bound=models.Model)


def insert_or_skip(model: type[M], conflict_fields: list[str], **values) -> M | None:
    """INSERT one row, or nothing if it would violate the unique index on `conflict_fields`.

    The new instance (with its primary key) when the row was inserted, else None. Unlike
    check-then-insert this has no race window: when a concurrent transaction holds the same
    key uncommitted, PostgreSQL waits for it and then skips (it committed) or inserts (it
    rolled back). `bulk_create(ignore_conflicts=True)` issues the same SQL but cannot say
    whether the row went in.

    Fields not given take their model defaults (and auto_now_add), as with `create()`.
    """
    instance = model(**values)
    inserted = _insert_skipping_conflicts(model, conflict_fields, [instance], model._meta.pk)
    if not inserted:
        return None
    instance.pk = inserted[0]
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance


def update_rows(model: type[M], instances: list[M], fields: list[str]) -> None:
    """Save `fields` of the instances in one statement: bulk_update() for several, a plain
    UPDATE for one, where bulk_update()'s CASE per row and field would cost about three times
    the CPU (docs/performance.md, "2026-12-03")."""
    if len(instances) == 1:
        [instance] = instances
        model.objects.filter(pk=instance.pk).update(
            **{name: getattr(instance, name) for name in fields}
        )
    elif instances:
        model.objects.bulk_update(instances, fields)


def insert_many_or_skip(model: type[M], key: str, rows: list[dict]) -> set:
    """insert_or_skip for many rows in one statement: those whose unique `key` is stored
    already (or comes twice in `rows`: the first goes in) are skipped. Returns the keys
    inserted. The rows go in the order given: callers that may race each other over the
    same keys pass them sorted, so two such inserts wait for each other instead of
    deadlocking."""
    if not rows:
        return set()
    field = model._meta.get_field(key)
    return set(_insert_skipping_conflicts(model, [key], [model(**row) for row in rows], field))


def _insert_skipping_conflicts(model, conflict_fields: list[str], instances: list, returned):
    """INSERT ... ON CONFLICT (...) DO NOTHING RETURNING `returned` for the instances."""
    meta = model._meta
    fields = [
        field
        for field in meta.concrete_fields
        if not (field.primary_key and isinstance(field, models.AutoField))
    ]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    row_placeholders = f"({', '.join(['%s'] * len(fields))})"
    conflict = ", ".join(quote(meta.get_field(name).column) for name in conflict_fields)
    params = [
        field.get_db_prep_save(field.pre_save(instance, add=True), connection=connection)
        for instance in instances
        for field in fields
    ]
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608 - names are quoted
        f"VALUES {', '.join([row_placeholders] * len(instances))} "
        f"ON CONFLICT ({conflict}) DO NOTHING RETURNING {quote(returned.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [returned.to_python(value) for (value,) in cursor.fetchall()]


def commit_without_waiting_for_the_disk() -> None:
    """This transaction's COMMIT returns before its WAL reaches the disk (PostgreSQL's
    `SET LOCAL synchronous_commit = off`; elsewhere nothing changes).

    Only for a transaction whose loss in a database crash is harmless: its effect is
    visible and its locks are released at commit as usual, but a crash within the next few
    hundred milliseconds may undo it. Used for the relay's "sent" mark: undone, the rows
    are published again and the receivers' inboxes absorb the duplicates. It saves a disk
    flush (about 1.5 ms here) on the fast path of every event.
    """
    # Only in a transaction of its own: inside a caller's, SET LOCAL would outlive this
    # block and spare the caller's own writes the disk flush too.
    if not settings.EMBEDDED_DATABASE and len(connection.atomic_blocks) == 1:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def check_constraints_at_once() -> None:
    """Check this transaction's deferred constraints (Django makes foreign keys DEFERRABLE
    INITIALLY DEFERRED on PostgreSQL) at each statement instead of at COMMIT.

    For a transaction that holds many independent pieces of work, each in a savepoint (a
    batch of messages): a violation then fails the statement, inside its piece's savepoint,
    instead of the COMMIT of the whole batch, again on every retry.
    """
    if not settings.EMBEDDED_DATABASE:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@contextmanager
def without_statement_time_out() -> Iterator[None]:
    """A transaction whose statements may run long: the server's statement time-out and the
    client's answer deadline (common/postgresql/base.py) are lifted inside it, and only
    there. For a job that reads a whole table in one statement, such as the daily ledger
    audit; a request never needs it."""
    with transaction.atomic():
        if settings.EMBEDDED_DATABASE:
            yield
            return
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = 0")
        raw = connection.connection
        deadline = getattr(raw, "answer_timeout", None)
        if deadline is not None:
            raw.answer_timeout = None
        try:
            yield
        finally:
            if deadline is not None:
                raw.answer_timeout = deadline
