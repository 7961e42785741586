"""/readyz says 503 when the service's database is down: a real connection attempt to a
port where nothing listens, or to a database the server does not have (no mock)."""

import socket

import pytest
from django.db import connection


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(params=["server-unreachable", "database-missing"])
def database_down(request, django_db_blocker):
    """The default connection pointed at a database that cannot be reached, for one test."""
    down = (
        {"HOST": "127.0.0.1", "PORT": closed_port()}
        if request.param == "server-unreachable"
        else {"NAME": "no_such_database_for_readyz"}
    )
    settings_dict = connection.settings_dict  # the connection reads it when it connects
    saved = {key: settings_dict[key] for key in down}
    connection.close()
    settings_dict.update(down)
    try:
        with django_db_blocker.unblock():
            yield
    finally:
        connection.close()
        settings_dict.update(saved)


def test_readyz_is_503_when_the_database_is_down(client, database_down):
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 503
    assert body["checks"] == {"database": "down"}


def test_healthz_stays_200_when_the_database_is_down(client, database_down):
    # Liveness: the process serves; restarting it would not bring the database back.
    assert client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_readyz_is_200_when_the_database_answers(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}
