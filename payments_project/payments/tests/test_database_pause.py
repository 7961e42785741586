"""A database that stops answering is a quick 503 for the client, never a hung request."""

import time

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_paused_database_is_a_503_within_the_deadline(caller, paused_database):
    started = time.monotonic()

    response = caller.get("/accounts/balance")

    assert time.monotonic() - started < 3
    assert response.status_code == 503, response.content
    assert response.json()["type"] == "urn:problem:database-unavailable"
    assert response["Retry-After"]
