"""JWT mode on a running stack, as the README walks it: the two settings added to .env,
`manage_all.sh restart gateway`, a token from `mint_token`; then an order paid end to end
for the token's user, and nobody else's data reachable with it."""

import secrets
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest

from common.testing.broker import wait_until
from tests.stack import start_stack, stop_stack

SECRET = secrets.token_urlsafe(48)
AUDIENCE = "shop-api"


@pytest.fixture(scope="module")
def jwt_stack(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        # The stack starts in header mode whatever this process's environment says, so the
        # switch below is the README's: .env, then a restart of the gateway.
        for name in ("GATEWAY_AUTH", "GATEWAY_JWT_SECRET", "GATEWAY_JWT_AUDIENCE"):
            patch.delenv(name, raising=False)
        stack = start_stack(tmp_path_factory.mktemp("jwt"))
    try:
        with httpx.Client(base_url=stack.gateway_url, timeout=10) as client:
            assert client.get("/orders", headers={"X-User-Id": "u-1"}).status_code == 200
        with Path(stack.env["ENV_FILE"]).open("a") as env_file:
            env_file.write(
                f"GATEWAY_AUTH=jwt\nGATEWAY_JWT_SECRET={SECRET}\nGATEWAY_JWT_AUDIENCE={AUDIENCE}\n"
            )
        restart = stack.manage_all("restart", "gateway")
        assert restart.returncode == 0, restart.stdout + restart.stderr
        yield stack
    finally:
        stop_stack(stack)


@pytest.fixture
def gateway(jwt_stack):
    with httpx.Client(base_url=jwt_stack.gateway_url, timeout=10) as client:
        yield client


def mint(stack, user: str) -> dict[str, str]:
    result = stack.manage("gateway", "mint_token", user, "--minutes", "5")
    assert result.returncode == 0, result.stderr
    return {"Authorization": f"Bearer {result.stdout.strip()}"}


def test_the_readme_walk(jwt_stack, gateway):
    user = f"jwt-{uuid.uuid4()}"
    token = mint(jwt_stack, user)

    refused = gateway.get("/accounts/balance", headers={"X-User-Id": user})
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert refused.headers["Content-Type"] == "application/problem+json"
    created = gateway.post("/accounts", headers=token)
    assert created.status_code == 201, created.text
    assert created.json()["user_id"] == user
    spoofed = gateway.get("/accounts/balance", headers={**token, "X-User-Id": "someone-else"})
    assert spoofed.json() == {"user_id": user, "balance": "0.00"}


def test_an_order_is_paid_for_the_tokens_user_and_hidden_from_others(jwt_stack, gateway):
    alice_id = f"alice-{uuid.uuid4()}"
    alice, bob = mint(jwt_stack, alice_id), mint(jwt_stack, f"bob-{uuid.uuid4()}")
    assert gateway.post("/accounts", headers=alice).status_code == 201
    deposit = gateway.post(
        "/accounts/deposit", json={"amount": "50"}, headers={**alice, "Idempotency-Key": "d-1"}
    )
    assert deposit.json()["balance"] == "50.00"
    order = gateway.post("/orders", json={"amount": "30", "description": "Coffee"}, headers=alice)
    assert order.status_code == 201, order.text
    path = order.headers["Location"]

    wait_until(
        lambda: gateway.get(path, headers=alice).json()["status"] == "FINISHED",
        timeout=30,
        message="the order was not paid",
    )
    assert gateway.get("/accounts/balance", headers=alice).json()["balance"] == "20.00"
    # Bob's token, even with Alice's id in X-User-Id, sees nothing of hers.
    as_bob = {**bob, "X-User-Id": alice_id}
    assert gateway.get(path, headers=as_bob).status_code == 404
    assert gateway.get("/orders", headers=bob).json() == []


def test_bad_tokens_are_401_and_the_gateways_own_pages_stay_open(gateway):
    now = int(time.time())
    good = {"sub": "u-1", "aud": AUDIENCE, "iat": now, "exp": now + 60}
    for claims, key in (
        ({**good, "exp": now - 120}, SECRET),  # expired
        ({**good, "aud": "another-api"}, SECRET),  # for another service
        (good, "a-guessed-secret-that-is-long-enough-too"),  # not ours
    ):
        token = jwt.encode(claims, key, algorithm="HS256")

        response = gateway.get("/orders", headers={"Authorization": f"Bearer {token}"})

        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
        assert response.json()["type"] == "urn:problem:invalid-token"
    assert gateway.get("/healthz").status_code == 200
    assert gateway.get("/readyz").status_code == 200
    assert gateway.get("/nowhere").status_code == 404
    document = gateway.get("/openapi.json").json()
    assert "bearerAuth" in document["components"]["securitySchemes"]
