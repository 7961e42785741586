"""The gateway's proxying: routes, forwarded and returned headers, limits, upstream trouble."""

import socket

import pytest

PROBLEM = "application/problem+json"


def test_each_public_route_reaches_its_service_at_the_same_path(client, upstreams):
    calls = [
        ("post", "/accounts", "payments"),
        ("post", "/accounts/deposit", "payments"),
        ("get", "/accounts/balance", "payments"),
        ("post", "/orders", "orders"),
        ("get", "/orders", "orders"),
        ("get", "/orders/3f1e2d4c-5b6a-4789-8abc-def012345678", "orders"),
    ]
    for method, path, service in calls:
        response = getattr(client, method)(path, headers={"X-User-Id": "u-1"})
        assert response.status_code in (200, 201), (path, response.content)
        assert upstreams[service].seen[-1]["path"] == path
        assert upstreams[service].seen[-1]["method"] == method.upper()
    assert len(upstreams["orders"].seen) + len(upstreams["payments"].seen) == len(calls)


def test_method_query_body_and_allowed_headers_are_forwarded(client, upstreams):
    response = client.post(
        "/orders?trace=1",
        b'{"amount": "30.00", "description": "x"}',
        content_type="application/json",
        headers={
            "X-User-Id": "u-1",
            "Idempotency-Key": "k-1",
            "Accept": "application/json",
            "X-Request-Id": "req-9",
            "Cookie": "session=secret",
            "Authorization": "Bearer x",
            "X-Internal-Token": "forged",
            "X-Forwarded-Host": "evil.example",
        },
    )

    assert response.status_code == 201
    seen = upstreams["orders"].seen[-1]
    assert seen["path"] == "/orders?trace=1"
    assert seen["body"] == '{"amount": "30.00", "description": "x"}'
    headers = {name.lower(): value for name, value in seen["headers"].items()}
    assert headers["x-user-id"] == "u-1"
    assert headers["idempotency-key"] == "k-1"
    assert headers["content-type"] == "application/json"
    assert headers["accept"] == "application/json"
    assert headers["x-request-id"] == "req-9"
    assert headers["x-internal-token"] == "test-internal-token"  # the gateway's, not forged
    for dropped in ("cookie", "authorization", "x-forwarded-host"):
        assert dropped not in headers
    assert response["X-Request-Id"] == "req-9"


def test_a_request_id_is_made_when_the_client_sends_none(client, upstreams):
    response = client.get("/accounts/balance", headers={"X-User-Id": "u-1"})

    sent = upstreams["payments"].seen[-1]["headers"]["X-Request-Id"]
    assert len(sent) == 32
    assert response["X-Request-Id"] == sent


def test_only_relevant_response_headers_return_and_locations_become_public(client, upstreams):
    upstreams["orders"].extra_headers = {
        "Location": "http://127.0.0.1:8001/orders/abc",
        "Link": '<http://127.0.0.1:8001/orders?limit=2&cursor=xyz>; rel="next"',
        "Idempotent-Replayed": "true",
        "Set-Cookie": "upstream=1",
        "X-Internal-Debug": "secret",
        "Keep-Alive": "timeout=5",
    }

    response = client.post("/orders", {}, content_type="application/json")

    assert response["Location"] == "/orders/abc"
    assert response["Link"] == '</orders?limit=2&cursor=xyz>; rel="next"'
    assert response["Idempotent-Replayed"] == "true"
    assert response["Content-Type"] == "application/json"
    for dropped in ("Set-Cookie", "X-Internal-Debug", "Keep-Alive"):
        assert dropped not in response


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/accounts/",
        "/orders/",
        "/orders/..",
        "/orders/%2e%2e",
        "/orders/a%2Fb",
        "/orders/x/../../admin/",
        "/orders/%2e%2e%2fadmin%2f",
        "//127.0.0.1:8001/admin/",
        "/admin/",
        "/api/schema/",
        "/readyz/../admin",
    ],
)
def test_anything_off_the_route_table_is_the_gateways_json_404(client, upstreams, path):
    response = client.get(path, headers={"X-User-Id": "u-1"})

    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    assert upstreams["orders"].seen == upstreams["payments"].seen == []


def test_a_crafted_host_is_refused(client, upstreams):
    response = client.get("/orders", HTTP_HOST="payments:8002")

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert upstreams["payments"].seen == upstreams["orders"].seen == []


def test_a_method_a_route_does_not_have_is_405(client, upstreams):
    response = client.delete("/orders")

    assert response.status_code == 405
    assert response["Allow"] == "GET, POST, HEAD"
    assert response.json()["type"] == "urn:problem:method-not-allowed"
    assert upstreams["orders"].seen == []


def test_a_body_over_64_kib_is_413_and_not_forwarded(client, upstreams):
    response = client.post("/orders", b"x" * (64 * 1024 + 1), content_type="application/json")

    assert response.status_code == 413
    assert response.json()["type"] == "urn:problem:payload-too-large"
    assert upstreams["orders"].seen == []


def test_a_service_that_is_down_is_503_naming_it(client, settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    settings.UPSTREAMS = {**settings.UPSTREAMS, "payments": f"http://127.0.0.1:{closed_port}"}

    response = client.get("/accounts/balance", headers={"X-User-Id": "u-1"})

    assert response.status_code == 503
    assert response["Content-Type"] == PROBLEM
    assert response.json()["type"] == "urn:problem:upstream-unavailable"
    assert "payments" in response.json()["detail"]


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_service_that_does_not_answer_in_time_is_504(client, upstreams, settings, method):
    settings.UPSTREAM_READ_TIMEOUT_SECONDS = 0.2
    upstreams["orders"].delay = 0.6
    path = "/orders/00000000-0000-0000-0000-000000000001" if method == "get" else "/orders"

    response = getattr(client, method)(path, headers={"X-User-Id": "u-1"})

    assert response.status_code == 504
    assert response.json()["type"] == "urn:problem:upstream-timeout"
    assert "orders" in response.json()["detail"]
    assert len(upstreams["orders"].seen) == 1  # never retried once sent


@pytest.mark.parametrize(
    ("method", "path", "service", "headers", "answered"),
    [
        ("get", "/orders/00000000-0000-0000-0000-000000000001", "orders", {}, 200),
        # Orders answers a key once and replays that answer:
        ("post", "/orders", "orders", {"Idempotency-Key": "k-1"}, 201),
        # May have been executed: never sent twice.
        ("post", "/orders", "orders", {}, 503),
        # Account creation does not replay by key: a second copy would answer 409.
        ("post", "/accounts", "payments", {"Idempotency-Key": "k-1"}, 503),
    ],
    ids=["get", "order-with-key", "order-without-key", "account-with-key"],
)
def test_a_connection_that_breaks_before_the_answer_is_retried_only_when_that_is_harmless(
    client, upstreams, method, path, service, headers, answered
):
    upstreams[service].drop = 1

    response = getattr(client, method)(path, headers={"X-User-Id": "u-1", **headers})

    assert response.status_code == answered
    assert len(upstreams[service].seen) == (1 if answered == 503 else 2)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_services_own_error_answer_passes_through_unchanged(client, upstreams, status, method):
    upstreams["orders"].status = status
    upstreams["orders"].extra_headers = {"Retry-After": "7"}

    response = getattr(client, method)("/orders", headers={"X-User-Id": "u-1"})

    assert response.status_code == status
    assert response["Retry-After"] == "7"
    assert response.json()["path"] == "/orders"  # the service's body, not the gateway's
    assert len(upstreams["orders"].seen) == 1


def test_a_chunked_body_is_411(client, upstreams):
    response = client.post(
        "/orders", b"{}", content_type="application/json", HTTP_TRANSFER_ENCODING="chunked"
    )

    assert response.status_code == 411
    assert upstreams["orders"].seen == []
