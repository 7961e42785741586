"""What operators and developers use beside the user API: health, schema, docs, admin."""

import json

import pytest
from django.core.management import call_command

from payments_project.payments.models import Account

pytestmark = pytest.mark.django_db


def test_healthz_needs_no_user_header(api_client):
    response = api_client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_the_database(api_client):
    response = api_client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok"}


def test_openapi_schema_is_valid_and_documents_every_endpoint(tmp_path):
    # --validate checks the document against the OpenAPI 3 spec; --fail-on-warn makes any
    # endpoint drf-spectacular could not describe a failure.
    schema_file = tmp_path / "schema.json"
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--format=openapi-json",
        f"--file={schema_file}",
    )

    schema = json.loads(schema_file.read_text())
    paths = schema["paths"]
    assert set(paths) >= {"/accounts", "/accounts/deposit", "/accounts/balance"}
    deposit = paths["/accounts/deposit"]["post"]
    assert set(deposit["responses"]) == {"200", "400", "404", "406", "409", "415", "422", "503"}
    assert {p["name"] for p in deposit["parameters"]} == {"X-User-Id", "Idempotency-Key"}
    assert deposit["requestBody"]["content"]["application/json"]["examples"]
    for operation in (paths["/accounts"]["post"], paths["/accounts/balance"]["get"]):
        assert "400" in operation["responses"]
        assert any(p["name"] == "X-User-Id" and p["required"] for p in operation["parameters"])


def test_schema_endpoint_serves_the_document(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert "/accounts/deposit" in response.json()["paths"]


def test_swagger_ui_uses_local_assets_only(api_client):
    response = api_client.get("/api/docs/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page
    assert "/static/drf_spectacular_sidecar/" in page
    assert "cdn" not in page.lower()


def test_admin_shows_balances_read_only(admin_client):
    account = Account.objects.create(user_id="shown", balance="12.00")

    page = admin_client.get(f"/admin/payments/account/{account.pk}/change/")
    assert page.status_code == 200
    assert b'name="balance"' not in page.content
    assert b"12.00" in page.content

    admin_client.post(f"/admin/payments/account/{account.pk}/change/", {"balance": "999.00"})
    account.refresh_from_db()
    assert str(account.balance) == "12.00"


def test_migrations_match_the_models():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.parametrize(
    ("token", "status"),
    [(None, 403), ("wrong-token", 403), ("the-internal-token", 201)],
    ids=["missing", "wrong", "right"],
)
def test_with_an_internal_token_configured_only_the_gateway_gets_in(
    api_client, settings, token, status
):
    settings.INTERNAL_API_TOKEN = "the-internal-token"
    headers = {"X-User-Id": "u-1", **({"X-Internal-Token": token} if token else {})}

    response = api_client.post("/accounts", headers=headers)

    assert response.status_code == status
    if status == 403:
        assert response.json()["type"] == "urn:problem:permission-denied"
        assert not Account.objects.exists()


def test_probes_and_the_schema_need_no_internal_token(api_client, settings):
    settings.INTERNAL_API_TOKEN = "the-internal-token"

    for path in ("/healthz", "/readyz", "/api/schema/"):
        assert api_client.get(path).status_code == 200, path
