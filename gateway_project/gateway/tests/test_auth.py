"""Authentication at the gateway: header mode as before; jwt mode verifies a bearer token
(HS256 with the secret, RS256/ES256 with a JWKS file or URL) and forwards its subject."""

import base64
import hashlib
import hmac
import json
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from common.settings.env import REPO_ROOT
from gateway_project.gateway import auth
from gateway_project.gateway.views import OPENAPI_FILE
from gateway_project.settings.authentication import checked_jwt_algorithms

PROBLEM = "application/problem+json"
SECRET = "a-development-secret-of-more-than-32-bytes"
ROUTED = [
    ("post", "/accounts", "payments"),
    ("post", "/accounts/deposit", "payments"),
    ("get", "/accounts/balance", "payments"),
    ("get", "/orders", "orders"),
    ("post", "/orders", "orders"),
    ("get", "/orders/3f1e2d4c-5b6a-4789-8abc-def012345678", "orders"),
    ("get", "/orders/3f1e2d4c-5b6a-4789-8abc-def012345678/events", "orders"),
]


def claims(**changes) -> dict:
    """Valid claims for u-1, changed as asked (None drops a claim)."""
    now = int(time.time())
    base = {"sub": "u-1", "iat": now, "exp": now + 300}
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def hs256(secret: str = SECRET, **changes) -> str:
    return jwt.encode(claims(**changes), secret, algorithm="HS256")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(header: dict, payload: dict, sign=lambda signing_input: b"") -> str:
    """A token built by hand, for what PyJWT refuses to make."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def bearer(token: str, **headers) -> dict:
    return {"Authorization": f"Bearer {token}", **headers}


def assert_invalid_token(response, words: str) -> dict:
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"] == "urn:problem:invalid-token"
    assert words in body["detail"], body["detail"]
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="')
    assert body["detail"] in challenge
    assert SECRET not in response.content.decode() + challenge
    return body


@pytest.fixture(autouse=True)
def _fresh_verifiers():
    auth._verifier.cache_clear()
    yield
    auth._verifier.cache_clear()


@pytest.fixture
def jwt_mode(settings):
    settings.GATEWAY_AUTH = "jwt"
    settings.GATEWAY_JWT_SECRET = SECRET
    settings.GATEWAY_JWKS_FILE = settings.GATEWAY_JWKS_URL = ""
    settings.GATEWAY_JWT_ALGORITHMS = ["HS256"]
    settings.GATEWAY_JWT_ISSUER = settings.GATEWAY_JWT_AUDIENCE = ""
    settings.GATEWAY_JWT_LEEWAY_SECONDS = 30
    settings.GATEWAY_JWKS_TIMEOUT_SECONDS = 2
    settings.GATEWAY_JWKS_REFRESH_SECONDS = 60
    settings.GATEWAY_JWKS_CACHE_SECONDS = 600
    return settings


# Keys: generating RSA keys takes a while, so once per module.


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(private_key, kid: str, alg: str) -> dict:
    algorithm = jwt.algorithms.RSAAlgorithm if alg.startswith("RS") else jwt.algorithms.ECAlgorithm
    jwk = algorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


def signed(private_key, alg: str, kid: str | None, **changes) -> str:
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims(**changes), private_key, algorithm=alg, headers=headers)


@pytest.fixture
def jwks_file_mode(jwt_mode, tmp_path, rsa_key, ec_key):
    path = tmp_path / "jwks.json"
    path.write_text(
        json.dumps(
            {"keys": [public_jwk(rsa_key, "rsa-1", "RS256"), public_jwk(ec_key, "ec-1", "ES256")]}
        )
    )
    jwt_mode.GATEWAY_JWT_SECRET = ""
    jwt_mode.GATEWAY_JWKS_FILE = str(path)
    jwt_mode.GATEWAY_JWT_ALGORITHMS = ["RS256", "ES256"]
    return jwt_mode


# Header mode: today's behaviour.


def test_header_mode_forwards_the_clients_user_id_as_sent(client, upstreams):
    response = client.get(
        "/accounts/balance", headers={"X-User-Id": "u-7", "Authorization": "Bearer x"}
    )

    assert response.status_code == 200
    headers = upstreams["payments"].seen[-1]["headers"]
    assert headers["X-User-Id"] == "u-7"
    assert "Authorization" not in headers


def test_header_mode_without_a_user_id_lets_the_service_answer(client, upstreams):
    assert client.get("/orders").status_code == 200  # the echo service; the real one says 400
    assert "X-User-Id" not in upstreams["orders"].seen[-1]["headers"]


# JWT mode: the good token.


def test_a_valid_token_forwards_its_subject_on_every_route(client, upstreams, jwt_mode):
    for method, path, service in ROUTED:
        response = getattr(client, method)(path, headers=bearer(hs256(sub=f"user.{service}")))

        assert response.status_code in (200, 201), (path, response.content)
        headers = upstreams[service].seen[-1]["headers"]
        assert headers["X-User-Id"] == f"user.{service}"
        assert "Authorization" not in headers


def test_a_spoofed_user_id_beside_a_valid_token_is_replaced_by_its_subject(
    client, upstreams, jwt_mode
):
    response = client.get("/accounts/balance", headers=bearer(hs256(), **{"X-User-Id": "victim"}))

    assert response.status_code == 200
    assert upstreams["payments"].seen[-1]["headers"]["X-User-Id"] == "u-1"


def test_expiry_and_not_before_allow_the_leeway(client, upstreams, jwt_mode):
    now = int(time.time())
    token = hs256(exp=now - 10, nbf=now + 10, iat=now + 10)

    assert client.get("/orders", headers=bearer(token)).status_code == 200


def test_issuer_and_audience_when_configured(client, upstreams, jwt_mode):
    jwt_mode.GATEWAY_JWT_ISSUER = "https://id.shop.example"
    jwt_mode.GATEWAY_JWT_AUDIENCE = "shop-api"
    token = hs256(iss="https://id.shop.example", aud=["other-api", "shop-api"])

    assert client.get("/orders", headers=bearer(token)).status_code == 200


# JWT mode: what is refused, and that nothing reaches a service then.


def test_no_token_is_401_with_the_bare_challenge(client, upstreams, jwt_mode):
    for headers in ({}, {"X-User-Id": "u-1"}, {"Authorization": "Basic dTpw"}):
        response = client.post("/orders", {}, content_type="application/json", headers=headers)

        assert response.status_code == 401
        assert response["Content-Type"] == PROBLEM
        assert response["WWW-Authenticate"] == "Bearer"  # RFC 6750: no error without a token
        assert response.json()["type"] == "urn:problem:authentication-required"
    assert upstreams["orders"].seen == []


def test_expired_token(client, upstreams, jwt_mode):
    response = client.get("/orders", headers=bearer(hs256(exp=int(time.time()) - 60)))

    assert_invalid_token(response, "expired")
    assert upstreams["orders"].seen == []


def test_token_not_valid_yet(client, upstreams, jwt_mode):
    response = client.get("/orders", headers=bearer(hs256(nbf=int(time.time()) + 120)))

    assert_invalid_token(response, "not valid yet")


def test_token_without_expiry(client, upstreams, jwt_mode):
    assert_invalid_token(client.get("/orders", headers=bearer(hs256(exp=None))), "no exp claim")


def test_token_signed_with_another_key(client, upstreams, jwt_mode):
    token = hs256(secret="another-secret-that-is-also-32-bytes-long")

    assert_invalid_token(client.get("/orders", headers=bearer(token)), "signature")


def test_wrong_issuer(client, upstreams, jwt_mode):
    jwt_mode.GATEWAY_JWT_ISSUER = "https://id.shop.example"

    for token in (hs256(iss="https://evil.example"), hs256()):
        response = client.get("/orders", headers=bearer(token))

        assert_invalid_token(response, "iss")


def test_wrong_audience(client, upstreams, jwt_mode):
    jwt_mode.GATEWAY_JWT_AUDIENCE = "shop-api"

    for token in (hs256(aud="other-api"), hs256()):
        response = client.get("/orders", headers=bearer(token))

        assert_invalid_token(response, "aud")


def test_an_audience_nobody_configured_is_refused(client, upstreams, jwt_mode):
    # RFC 7519 4.1.3: a recipient not named in a present aud must reject the token.
    assert_invalid_token(client.get("/orders", headers=bearer(hs256(aud="x"))), "aud")


def test_alg_none_is_refused(client, upstreams, jwt_mode):
    for alg in ("none", "None", "NONE"):
        token = handmade({"alg": alg, "typ": "JWT"}, claims())

        response = client.get("/orders", headers=bearer(token))

        assert_invalid_token(response, "algorithm is not accepted")
    assert upstreams["orders"].seen == []


def test_an_algorithm_not_configured_is_refused(client, upstreams, jwt_mode):
    token = jwt.encode(claims(), SECRET + "-long-enough-for-hs512" * 3, algorithm="HS512")

    assert_invalid_token(client.get("/orders", headers=bearer(token)), "(accepted: HS256)")


def test_garbage_tokens(client, upstreams, jwt_mode):
    garbage = ["not-a-jwt", "a.b.c", "e30.e30.", "Bearer", "x" * 5000, "ey.ey.ey"]
    for token in garbage:
        assert_invalid_token(client.get("/orders", headers=bearer(token)), "token")
    for header in ({"alg": "HS256", "crit": ["x"]}, {"alg": "HS256", "kid": 5}, ["HS256"]):
        token = handmade(header, claims())
        assert_invalid_token(client.get("/orders", headers=bearer(token)), "token")
    response = client.get("/orders", headers={"Authorization": "Bearer a b"})
    assert_invalid_token(response, "not 'Bearer <JWT>'")
    assert upstreams["orders"].seen == []


@pytest.mark.parametrize(
    ("sub", "words"),
    [
        ("../admin", "not a user id"),
        ("x" * 65, "not a user id"),
        ("", "not a user id"),
        ("u 1", "not a user id"),
        (42, "not a string"),
        (None, "no sub claim"),
    ],
)
def test_a_subject_that_is_not_a_user_id(client, upstreams, jwt_mode, sub, words):
    response = client.get("/orders", headers=bearer(hs256(sub=sub)))

    assert_invalid_token(response, words)


def test_public_paths_need_no_token_and_a_404_stays_a_404(client, upstreams, jwt_mode):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/swagger").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    for path in ("/nowhere", "/admin/", "/orders/a%2Fb", "/accounts/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "WWW-Authenticate" not in response


# JWT mode with public keys from a JWKS.


def test_rs256_and_es256_tokens_verify_with_a_jwks_file(
    client, upstreams, jwks_file_mode, rsa_key, ec_key
):
    for token, sub in (
        (signed(rsa_key, "RS256", "rsa-1", sub="rsa-user"), "rsa-user"),
        (signed(ec_key, "ES256", "ec-1", sub="ec-user"), "ec-user"),
        (signed(ec_key, "ES256", None, sub="no-kid"), "no-kid"),  # the one EC key fits
    ):
        assert client.get("/orders", headers=bearer(token)).status_code == 200
        assert upstreams["orders"].seen[-1]["headers"]["X-User-Id"] == sub


def test_a_jwks_token_signed_by_a_key_not_in_the_set(
    client, upstreams, jwks_file_mode, other_rsa_key
):
    forged = signed(other_rsa_key, "RS256", "rsa-1")
    assert_invalid_token(client.get("/orders", headers=bearer(forged)), "signature")
    unknown = signed(other_rsa_key, "RS256", "rsa-9")
    assert_invalid_token(client.get("/orders", headers=bearer(unknown)), "kid")


def test_a_key_of_another_type_or_curve_is_not_used(client, upstreams, jwks_file_mode, rsa_key):
    # The EC key's kid on an RSA-signed token: that key cannot verify RS256.
    token = signed(rsa_key, "RS256", "ec-1")

    assert_invalid_token(client.get("/orders", headers=bearer(token)), "kid")


def test_an_rsa_key_under_2048_bits_is_refused(client, upstreams, jwks_file_mode, tmp_path):
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    path = tmp_path / "weak.json"
    path.write_text(json.dumps({"keys": [public_jwk(weak, "weak", "RS256")]}))
    jwks_file_mode.GATEWAY_JWKS_FILE = str(path)
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        token = signed(weak, "RS256", "weak")

    assert_invalid_token(client.get("/orders", headers=bearer(token)), "not acceptable")


def test_hs256_signed_with_the_public_key_is_refused(client, upstreams, jwks_file_mode, rsa_key):
    # The classic confusion: the RSA public key (which anyone may have) as an HMAC secret.
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk_json = json.dumps(public_jwk(rsa_key, "rsa-1", "RS256")).encode()
    for secret in (pem, jwk_json):
        token = handmade(
            {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"},
            claims(),
            lambda data, secret=secret: hmac.new(secret, data, hashlib.sha256).digest(),
        )

        assert_invalid_token(client.get("/orders", headers=bearer(token)), "algorithm")
    # Even when HS256 is accepted (with its own secret), the public key is no secret.
    jwks_file_mode.GATEWAY_JWT_SECRET = SECRET
    jwks_file_mode.GATEWAY_JWT_ALGORITHMS = ["HS256", "RS256"]
    assert_invalid_token(client.get("/orders", headers=bearer(token)), "signature")
    assert upstreams["orders"].seen == []


class JwksServer(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.hits += 1
        body = json.dumps(self.server.document).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def jwks_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), JwksServer)
    server.hits, server.status, server.document = 0, 200, {"keys": []}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def clock(monkeypatch):
    """The JWKS cache's monotonic clock, moved by the test."""
    now = [1000.0]
    monkeypatch.setattr(auth, "_now", lambda: now[0])
    return now


@pytest.fixture
def jwks_url_mode(jwt_mode, jwks_server):
    jwt_mode.GATEWAY_JWT_SECRET = ""
    jwt_mode.GATEWAY_JWKS_URL = f"http://127.0.0.1:{jwks_server.server_address[1]}/jwks.json"
    jwt_mode.GATEWAY_JWT_ALGORITHMS = ["RS256", "ES256"]
    return jwt_mode


def test_jwks_url_key_rotation(
    client, upstreams, jwks_url_mode, jwks_server, clock, rsa_key, other_rsa_key
):
    def status(token):
        return client.get("/orders", headers=bearer(token)).status_code

    old, new = signed(rsa_key, "RS256", "k-2026-1"), signed(other_rsa_key, "RS256", "k-2026-2")
    jwks_server.document = {"keys": [public_jwk(rsa_key, "k-2026-1", "RS256")]}
    assert status(old) == 200
    assert status(old) == 200
    assert jwks_server.hits == 1  # fetched once, then cached

    # The issuer rotates: the new key replaces the old one.
    jwks_server.document = {"keys": [public_jwk(other_rsa_key, "k-2026-2", "RS256")]}
    clock[0] += 61  # past the refresh interval (60 s), within the cache time (600 s)
    assert status(new) == 200  # an unknown kid: fetched again, once
    assert jwks_server.hits == 2
    assert status(old) == 401  # the retired key is gone with the refresh

    # Made-up kids within the interval are refused without asking the JWKS server.
    for n in range(20):
        response = client.get("/orders", headers=bearer(signed(rsa_key, "RS256", f"x-{n}")))
        assert_invalid_token(response, "kid")
    assert jwks_server.hits == 2

    # After the interval, one unknown kid may ask again.
    clock[0] += 61
    assert status(signed(rsa_key, "RS256", "x-again")) == 401
    assert jwks_server.hits == 3
    assert status(new) == 200
    # A known kid is fetched again once the cache is older than its time.
    clock[0] += 601
    assert status(new) == 200
    assert jwks_server.hits == 4


def test_an_unreachable_jwks_url_is_503_until_it_answers(
    client, upstreams, jwks_url_mode, jwks_server, clock, ec_key
):
    token = signed(ec_key, "ES256", "ec-1")
    jwks_server.status = 500

    response = client.get("/orders", headers=bearer(token))

    assert response.status_code == 503
    assert response.json()["type"] == "urn:problem:authentication-unavailable"
    assert response["Retry-After"] == "60"
    clock[0] += 10
    assert client.get("/orders", headers=bearer(token))["Retry-After"] == "50"
    assert jwks_server.hits == 1  # no fetch per request while it is down

    jwks_server.status, jwks_server.document = 200, {"keys": [public_jwk(ec_key, "ec-1", "ES256")]}
    clock[0] += 51
    assert client.get("/orders", headers=bearer(token)).status_code == 200
    assert upstreams["orders"].seen[-1]["headers"]["X-User-Id"] == "u-1"


def test_a_jwks_fetch_failure_keeps_the_keys_known(
    client, upstreams, jwks_url_mode, jwks_server, clock, ec_key
):
    token = signed(ec_key, "ES256", "ec-1")
    jwks_server.document = {"keys": [public_jwk(ec_key, "ec-1", "ES256")]}
    assert client.get("/orders", headers=bearer(token)).status_code == 200

    jwks_server.status = 503
    clock[0] += 601  # the cache is old: the refresh fails, the known key still serves
    assert client.get("/orders", headers=bearer(token)).status_code == 200
    assert jwks_server.hits == 2


def test_parse_jwks_keeps_only_public_signing_keys(rsa_key, ec_key):
    document = {
        "keys": [
            {"kty": "oct", "k": b64(b"x" * 32), "kid": "hmac"},  # a symmetric key: never
            {**public_jwk(rsa_key, "enc", "RS256"), "use": "enc"},
            {"kty": "RSA", "kid": "broken", "n": "AQAB"},
            public_jwk(ec_key, "ec-1", "ES256"),
        ]
    }

    keys = auth.parse_jwks(json.dumps(document).encode())

    assert [key.kid for key in keys] == ["ec-1"]
    assert keys[0].fits("ES256")
    assert not keys[0].fits("ES384")
    assert not keys[0].fits("RS256")
    with pytest.raises(ValueError, match="no usable"):
        auth.parse_jwks(json.dumps({"keys": document["keys"][:3]}).encode())


# The OpenAPI document of each mode.


def test_header_mode_serves_the_committed_document(client):
    response = client.get("/openapi.json")

    assert response.content == OPENAPI_FILE.read_bytes()


def test_jwt_mode_documents_bearer_authentication(client, jwt_mode):
    document = client.get("/openapi.json").json()

    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        **auth.BEARER_SCHEME,
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    operations = [op for item in document["paths"].values() for op in item.values()]
    assert len(operations) == len(ROUTED)
    for operation in operations:
        assert operation["security"] == [{"bearerAuth": []}]
        names = [parameter["name"] for parameter in operation.get("parameters", [])]
        assert "X-User-Id" not in names
        unauthorized = operation["responses"]["401"]
        assert list(unauthorized["content"]) == [PROBLEM]
        assert unauthorized["headers"]["WWW-Authenticate"]["required"] is True
    assert "Authorization: Bearer <JWT>`, whose `sub`" in document["info"]["description"]
    assert "names its user in X-User-Id" not in document["info"]["description"]
    # The committed document (header mode) is left as it is.
    assert "securitySchemes" not in json.loads(OPENAPI_FILE.read_text())["components"]


def test_the_jwt_document_also_drops_a_referenced_user_id_parameter():
    document = {
        "info": {"description": "Shop."},
        "paths": {
            "/orders": {
                "parameters": [{"$ref": "#/components/parameters/UserId"}],
                "get": {
                    "parameters": [{"in": "header", "name": "x-user-id"}, {"in": "query"}],
                    "responses": {"200": {"description": ""}},
                },
            }
        },
        "components": {"parameters": {"UserId": {"in": "header", "name": "X-User-Id"}}},
    }

    served = json.loads(auth.openapi_for_mode(json.dumps(document).encode(), "jwt"))

    assert served["paths"]["/orders"]["parameters"] == []
    assert served["paths"]["/orders"]["get"]["parameters"] == [{"in": "query"}]
    assert served["paths"]["/orders"]["get"]["responses"]["401"]["content"][PROBLEM]["schema"] == (
        auth.PROBLEM_SCHEMA
    )
    assert served["info"]["description"].startswith("Shop.\n\nEvery call carries `Authorization")


# The settings, checked at start.


def check(**changes) -> list[str]:
    values = {"mode": "jwt", "secret": SECRET, "jwks_file": "", "jwks_url": "", "algorithms": []}
    return checked_jwt_algorithms(**{**values, **changes})


def test_the_settings_default_the_algorithms_by_key_type(tmp_path):
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')

    assert check() == ["HS256"]
    assert check(secret="", jwks_url="https://id.example/jwks") == ["RS256", "ES256"]
    assert check(jwks_file=str(jwks)) == ["HS256", "RS256", "ES256"]
    assert check(secret="", jwks_file=str(jwks), algorithms=["ES256"]) == ["ES256"]
    assert check(jwks_file=str(jwks), algorithms=[" HS256", " ES256 ", ""]) == ["HS256", "ES256"]
    assert check(mode="header", secret="") == []


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"mode": "basic"}, "GATEWAY_AUTH must be"),
        ({"mode": "header", "secret": "short"}, "at least 32 bytes"),
        ({"secret": "x" * 31}, "at least 32 bytes"),
        ({"secret": ""}, "needs GATEWAY_JWT_SECRET"),
        ({"algorithms": ["none"]}, "'none' is not accepted"),
        ({"algorithms": ["HS512"]}, "HS512 needs a GATEWAY_JWT_SECRET of 64+ bytes"),
        ({"algorithms": ["HS256", "RS256"]}, "RS256 needs GATEWAY_JWKS_FILE"),
        ({"secret": "", "jwks_url": "https://x/j", "algorithms": ["HS256"]}, "HS256 needs"),
        ({"jwks_url": "ftp://x/j"}, "http(s) URL"),
        ({"jwks_url": "https://x/j", "jwks_file": "/j.json"}, "not both"),
        ({"jwks_file": "/nonexistent/jwks.json"}, "GATEWAY_JWKS_FILE"),
    ],
)
def test_the_settings_refuse_a_weak_or_incoherent_configuration(changes, words):
    with pytest.raises(ImproperlyConfigured, match=re.escape(words)):
        check(**changes)


def test_a_gateway_with_an_unknown_mode_refuses_to_start():
    result = subprocess.run(
        [sys.executable, "-c", "import gateway_project.settings.test"],
        cwd=REPO_ROOT,
        env={"GATEWAY_AUTH": "oauth", "PATH": "", "ENV_FILE": "/nonexistent"},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured: GATEWAY_AUTH must be one of header, jwt" in result.stderr


# The development token.


def test_mint_token_prints_a_token_the_gateway_accepts(client, upstreams, jwt_mode, capsys):
    jwt_mode.GATEWAY_JWT_ISSUER, jwt_mode.GATEWAY_JWT_AUDIENCE = "dev", "shop-api"

    call_command("mint_token", "8d3f1c2e-7a4b", "--minutes", "5")

    token = capsys.readouterr().out.strip()
    payload = jwt.decode(token, SECRET, algorithms=["HS256"], audience="shop-api", issuer="dev")
    assert payload["sub"] == "8d3f1c2e-7a4b"
    assert payload["exp"] - payload["iat"] == 300
    assert client.get("/orders", headers=bearer(token)).status_code == 200
    assert upstreams["orders"].seen[-1]["headers"]["X-User-Id"] == "8d3f1c2e-7a4b"


def test_mint_token_needs_a_secret_and_a_user_id(jwt_mode):
    with pytest.raises(CommandError, match="user id"):
        call_command("mint_token", "not/a/user")
    jwt_mode.GATEWAY_JWT_SECRET = ""
    with pytest.raises(CommandError, match="GATEWAY_JWT_SECRET"):
        call_command("mint_token", "u-1")
