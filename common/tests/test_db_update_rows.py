"""common.db.update_rows: the instances' fields saved in one statement, however many."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from common.db import update_rows
from common.tests.sampleapp.models import Effect

pytestmark = pytest.mark.django_db


def saved_with(count: int) -> tuple[list[int], list[str]]:
    effects = [Effect.objects.create(message_id=f"m-{n}", value=n) for n in range(count)]
    for effect in effects:
        effect.value += 100
    with CaptureQueriesContext(connection) as statements:
        update_rows(Effect, effects, ["value"])
    values = [Effect.objects.get(pk=effect.pk).value for effect in effects]
    return values, [query["sql"] for query in statements]


def test_one_row_is_saved_with_a_plain_update():
    values, statements = saved_with(1)

    assert values == [100]
    assert len(statements) == 1
    assert "CASE" not in statements[0]


def test_several_rows_are_saved_in_one_statement():
    values, statements = saved_with(3)

    assert values == [100, 101, 102]
    assert len(statements) == 1


def test_no_rows_make_no_statement():
    assert saved_with(0) == ([], [])
