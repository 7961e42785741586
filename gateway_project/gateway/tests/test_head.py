"""HEAD wherever GET is: forwarded as HEAD, answered with GET's headers and no body."""

import pytest

PROBLEM = "application/problem+json"


@pytest.mark.parametrize(
    ("path", "service"),
    [("/orders", "orders"), ("/orders/abc-123", "orders"), ("/accounts/balance", "payments")],
)
def test_head_is_forwarded_where_get_is(client, upstreams, path, service):
    response = client.head(f"{path}?limit=5", headers={"X-User-Id": "u-1"})

    assert response.status_code == 200
    assert response.content == b""
    assert response["Content-Type"] == "application/json"
    assert int(response["Content-Length"]) > 0  # the length the GET's body has
    assert response["X-Request-Id"]
    [call] = upstreams[service].seen
    assert (call["method"], call["path"]) == ("HEAD", f"{path}?limit=5")
    assert call["headers"]["X-User-Id"] == "u-1"


@pytest.mark.parametrize("path", ["/accounts", "/accounts/deposit"])
def test_head_is_405_where_there_is_no_get(client, upstreams, path):
    response = client.head(path, headers={"X-User-Id": "u-1"})

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response["Content-Type"] == PROBLEM
    assert upstreams["payments"].seen == []


def test_the_allow_header_names_head_beside_get(client, upstreams):
    assert client.put("/orders/abc")["Allow"] == "GET, HEAD"
    assert client.delete("/accounts/balance")["Allow"] == "GET, HEAD"


def test_a_services_allow_header_becomes_the_routes(client, upstreams):
    upstreams["orders"].extra_headers = {"Allow": "GET, POST, HEAD, OPTIONS"}

    response = client.get("/orders/abc", headers={"X-User-Id": "u-1"})

    assert response["Allow"] == "GET, HEAD"
