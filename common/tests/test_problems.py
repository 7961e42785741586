"""Errors nobody planned for still leave the API as problem details, never an HTML page."""

import json
import logging

from django.db import InterfaceError, OperationalError
from django.test import RequestFactory
from rest_framework.request import Request

from common.api.problems import PROBLEM_CONTENT_TYPE, problem_exception_handler, server_error


def test_unexpected_exception_in_a_view_is_a_logged_json_500(caplog):
    request = Request(RequestFactory().post("/accounts/deposit"))

    with caplog.at_level(logging.ERROR):
        response = problem_exception_handler(RuntimeError("boom"), {"request": request})

    assert response.status_code == 500
    assert response.content_type == PROBLEM_CONTENT_TYPE  # set as the header when rendered
    assert response.data["type"] == "urn:problem:server-error"
    assert "boom" not in json.dumps(response.data)  # internals stay in the log
    assert "boom" in caplog.text


def test_django_level_500_is_json():
    response = server_error(RequestFactory().get("/accounts/balance"))

    assert response.status_code == 500
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    assert json.loads(response.content)["status"] == 500


def test_a_lost_database_is_a_retryable_503_not_a_500(caplog):
    request = Request(RequestFactory().post("/accounts/deposit"))

    with caplog.at_level(logging.WARNING):
        response = problem_exception_handler(
            OperationalError("server closed the connection unexpectedly"), {"request": request}
        )

    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.data["type"] == "urn:problem:database-unavailable"
    assert "server closed" in caplog.text
    assert "Traceback" not in caplog.text  # an outage, not a bug


def test_a_lost_database_outside_a_view_is_a_503_too():
    request = RequestFactory().get("/accounts/balance")
    try:
        raise InterfaceError("connection already closed")
    except InterfaceError:
        # As Django calls handler500: inside the handling of the exception.
        response = server_error(request)

    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert json.loads(response.content)["type"] == "urn:problem:database-unavailable"
