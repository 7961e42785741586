"""Errors nobody planned for still leave the API as problem details, never an HTML page."""

import json
import logging

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
