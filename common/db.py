"""Database helpers the ORM does not offer directly."""

from django.db import connection, models


def insert_or_skip(model: type[models.Model], conflict_fields: list[str], **values) -> bool:
    """INSERT one row, or nothing if it would violate the unique index on `conflict_fields`.

    True when the row was inserted. Unlike check-then-insert this has no race window: when a
    concurrent transaction holds the same key uncommitted, PostgreSQL waits for it and then
    skips (it committed) or inserts (it rolled back). `bulk_create(ignore_conflicts=True)`
    issues the same SQL but cannot say whether the row went in.
    """
    meta = model._meta
    fields = [meta.get_field(name) for name in values]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    conflict = ", ".join(
        connection.ops.quote_name(meta.get_field(name).column) for name in conflict_fields
    )
    params = [field.get_db_prep_save(values[field.name], connection=connection) for field in fields]
    sql = (
        f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) "  # noqa: S608
        f"VALUES ({placeholders}) ON CONFLICT ({conflict}) DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == 1
