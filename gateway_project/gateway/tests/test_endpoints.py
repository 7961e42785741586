"""The gateway's own endpoints: probes and the public API's documentation."""

import json

from django.core.management import call_command

from gateway_project.gateway.routes import ROUTES
from gateway_project.gateway.views import OPENAPI_FILE


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_asks_every_service(client, upstreams):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"] == {"orders": "ok", "payments": "ok"}
    assert [call["path"] for call in upstreams["orders"].seen] == ["/readyz"]


def test_readyz_is_503_when_a_service_is_down(client, upstreams, settings):
    settings.UPSTREAMS = {**settings.UPSTREAMS, "orders": "http://127.0.0.1:9"}

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"] == {"orders": "unreachable", "payments": "ok"}


def test_the_openapi_document_describes_exactly_the_routed_operations(client):
    document = client.get("/openapi.json").json()

    documented = {
        (method.upper(), path) for path, ops in document["paths"].items() for method in ops
    }
    routed = {
        (method, "/" + route.path.replace("<public_id:order_id>", "{order_id}"))
        for route in ROUTES
        for method in route.methods
    }
    assert documented == routed
    assert document["paths"]["/orders"]["post"]["responses"]["201"]


def test_the_openapi_document_matches_what_the_services_accept(capsys):
    # Regenerates it from the services' own schemas and compares with the served file.
    call_command("build_openapi", "--check")

    assert "matches" in capsys.readouterr().out
    assert json.loads(OPENAPI_FILE.read_text())["info"]["title"] == "Shop API"


def test_swagger_ui_is_served_with_local_assets(client):
    response = client.get("/swagger")

    assert response.status_code == 200
    page = response.content.decode()
    assert "/openapi.json" in page
    assert "/static/drf_spectacular_sidecar/" in page
    assert "cdn" not in page.lower()


def test_metrics_answer_a_client_on_this_host(client, upstreams):
    client.get("/orders", headers={"X-User-Id": "u-1"})

    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 200
    assert b'shop_gateway_upstream_requests_total{status="200",upstream="orders"}' in (
        response.content
    )


def test_metrics_are_a_404_for_anyone_else(client):
    for address in ("203.0.113.9", "10.0.0.7", "::ffff:203.0.113.9", "not-an-address"):
        response = client.get("/metrics", REMOTE_ADDR=address)

        assert response.status_code == 404
        assert response["Content-Type"] == "application/problem+json"
        assert b"shop_" not in response.content
