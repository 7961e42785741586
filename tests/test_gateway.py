"""The gateway in front of the running system: the contract's errors, a stopped service,
the internal token, and the operator's pages (Swagger UI, admin, Flower)."""

import uuid

import httpx
import pytest

from common.testing.broker import wait_until

PROBLEM = "application/problem+json"


@pytest.fixture
def gateway(stack):
    with httpx.Client(base_url=stack.gateway_url, timeout=10) as client:
        yield client


def user() -> dict[str, str]:
    return {"X-User-Id": f"e2e-{uuid.uuid4()}"}


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == PROBLEM
    return response.json()


def test_the_contracts_errors_come_back_as_problems(gateway):
    caller = user()
    assert_problem(gateway.get("/accounts/balance"), 400)  # no X-User-Id
    assert_problem(gateway.get("/accounts/balance", headers=caller), 404)
    assert gateway.post("/accounts", headers=caller).status_code == 201
    assert_problem(gateway.post("/accounts", headers=caller), 409)
    assert_problem(gateway.post("/accounts/deposit", json={"amount": "1.001"}, headers=caller), 400)
    assert_problem(gateway.get(f"/orders/{uuid.uuid4()}", headers=caller), 404)
    assert_problem(gateway.get("/orders/not-a-uuid", headers=caller), 404)
    assert_problem(gateway.get("/nowhere", headers=caller), 404)
    huge = b'{"amount": "1", "description": "' + b"x" * 70_000 + b'"}'
    assert_problem(gateway.post("/orders", content=huge, headers=caller), 413)
    text = {**caller, "Content-Type": "text/plain"}
    assert_problem(gateway.post("/orders", content=b"amount=1", headers=text), 415)
    # Nothing of the above changed the balance.
    assert gateway.get("/accounts/balance", headers=caller).json()["balance"] == "0.00"


def test_a_stopped_service_is_503_and_back_once_started(stack, gateway):
    caller = user()
    assert stack.manage_all("stop", "payments").returncode == 0
    try:
        body = assert_problem(gateway.get("/accounts/balance", headers=caller), 503)
        assert "payments" in body["detail"]
        assert gateway.get("/readyz").status_code == 503
        # The other service still answers through the gateway.
        assert gateway.get("/orders", headers=caller).status_code == 200
    finally:
        assert stack.manage_all("start", "payments").returncode == 0
    wait_until(lambda: gateway.get("/readyz").status_code == 200, timeout=30)
    assert gateway.post("/accounts", headers=caller).status_code == 201


def test_the_services_refuse_calls_that_bypass_the_gateway(stack):
    for process, path in (("orders", "/orders"), ("payments", "/accounts/balance")):
        direct = httpx.get(stack.url(process) + path, headers=user())
        assert_problem(direct, 403)
        forged = httpx.get(
            stack.url(process) + path, headers={**user(), "X-Internal-Token": "guess"}
        )
        assert_problem(forged, 403)


def test_swagger_ui_and_the_openapi_document_are_served(gateway):
    page = gateway.get("/swagger")
    assert page.status_code == 200
    assert "/static/drf_spectacular_sidecar/" in page.text
    assert (
        gateway.get(
            "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
        ).status_code
        == 200
    )
    document = gateway.get("/openapi.json").json()
    assert set(document["paths"]) == {
        "/accounts", "/accounts/deposit", "/accounts/balance", "/orders", "/orders/{order_id}",
        "/orders/{order_id}/events",
    }  # fmt: skip


def test_the_admin_and_flower_answer(stack):
    for process in ("orders", "payments"):
        login = httpx.get(stack.url(process) + "/admin/login/")
        assert login.status_code == 200
        assert "Django administration" in login.text
    assert httpx.get(stack.url("flower")).status_code == 401  # basic auth
    flower = httpx.get(stack.url("flower"), auth=("admin", stack.env["FLOWER_PASSWORD"]))
    assert flower.status_code == 200
    assert "Flower" in flower.text
