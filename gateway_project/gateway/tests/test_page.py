"""The page at `/`: HTML whose assets are files (so a strict CSP holds), the auth mode it
tells its script, HEAD as GET without the body, and 405 problems for other methods."""

import re

import pytest
from django.contrib.staticfiles import finders

from gateway_project.gateway.page import CONTENT_SECURITY_POLICY


def test_the_page_is_html_with_a_strict_policy(client):
    response = client.get("/")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["X-Request-Id"]
    html = response.content.decode()
    # Nothing inline the policy would block: every script and style sheet is a file.
    assert "<style" not in html
    assert " style=" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert re.search(r" on[a-z]+=", html) is None
    assert '<a href="/swagger">' in html


def test_its_assets_are_static_files(client):
    html = client.get("/").content.decode()

    assets = re.findall(r'(?:src|href)="/static/([^"]+)"', html)
    assert sorted(assets) == ["shop/shop.css", "shop/shop.js", "shop/sse.js"]
    for asset in assets:
        assert finders.find(asset), asset


@pytest.mark.parametrize("mode", ["header", "jwt"])
def test_the_page_tells_its_script_the_auth_mode(client, settings, mode):
    settings.GATEWAY_AUTH = mode
    html = client.get("/").content.decode()

    assert f'data-auth-mode="{mode}"' in html
    assert ('id="token"' in html) == (mode == "jwt")
    assert ('id="user-id"' in html) == (mode == "header")


def test_every_input_has_a_label(client):
    html = client.get("/").content.decode()

    inputs = re.findall(r'<(?:input|textarea) id="([^"]+)"', html)
    assert inputs
    for input_id in inputs:
        assert f'<label for="{input_id}">' in html, input_id


def test_head_is_get_without_the_body(client):
    get, head = client.get("/"), client.head("/")

    assert head.status_code == 200
    assert head.content == b""
    assert head["Content-Length"] == get["Content-Length"] == str(len(get.content))
    assert head["Content-Security-Policy"] == get["Content-Security-Policy"]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
def test_other_methods_are_405_problems(client, method):
    response = getattr(client, method)("/")

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "urn:problem:method-not-allowed"
