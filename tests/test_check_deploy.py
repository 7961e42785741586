"""Django's deployment checklist (`manage.py check --deploy`) passes for each service with its
production settings and the environment of a real deployment behind a TLS proxy: no
warning, except the few common/settings/production.py silences by name, with its reasons."""

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack import REPO_ROOT

SERVICES = ["gateway", "orders", "payments"]


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """What a deployment sets (docker-compose.yml, behind a TLS proxy); nothing else, and no
    .env file (ENV_FILE names one that does not exist)."""
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "ENV_FILE": str(tmp_path / "no.env"),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "INTERNAL_API_TOKEN": secrets.token_urlsafe(32),
        "DJANGO_ALLOWED_HOSTS": "shop.example.com,orders,payments,gateway",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://shop.example.com",
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "ORDERS_DATABASE_URL": "postgres://orders:secret@orders-db:5432/orders",
        "PAYMENTS_DATABASE_URL": "postgres://payments:secret@payments-db:5432/payments",
        "BROKER_URL": "amqp://shop:secret@rabbitmq:5672//",
        "ORDERS_URL": "http://orders:8000",
        "PAYMENTS_URL": "http://payments:8000",
        **overrides,
    }


def manage(service: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, f"{service}_project/manage.py", *args],
        cwd=REPO_ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": f"{service}_project.settings.production"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("service", SERVICES)
def test_check_deploy_passes_with_production_settings(service, tmp_path):
    result = manage(service, production_env(tmp_path), "check", "--deploy", "--fail-level", "DEBUG")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


SETTINGS_PRINTER = (
    "import json; from django.conf import settings as s; print(json.dumps({name: getattr(s, name) "
    "for name in ('SECURE_SSL_REDIRECT', 'SECURE_PROXY_SSL_HEADER', 'SESSION_COOKIE_SECURE')}))"
)


def test_behind_a_tls_proxy_the_defaults_trust_its_header_and_leave_it_the_redirect(tmp_path):
    result = manage("orders", production_env(tmp_path), "shell", "-c", SETTINGS_PRINTER)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "SECURE_SSL_REDIRECT": False,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SESSION_COOKIE_SECURE": True,
    }


def test_the_plain_http_stack_of_manage_all_is_not_redirected(tmp_path):
    # manage_all.sh writes its .env from .env.example and serves plain HTTP on localhost,
    # with no proxy in front: no redirect to HTTPS, no trust in a client's X-Forwarded-Proto.
    env = production_env(tmp_path, ENV_FILE=str(REPO_ROOT / ".env.example"))
    del env["DJANGO_CSRF_TRUSTED_ORIGINS"]
    result = manage("gateway", env, "shell", "-c", SETTINGS_PRINTER)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "SECURE_SSL_REDIRECT": False,
        "SECURE_PROXY_SSL_HEADER": None,
        "SESSION_COOKIE_SECURE": False,
    }


COOKIE_PRINTER = (
    "import json; from django.conf import settings as s; "
    "print(json.dumps([s.SESSION_COOKIE_NAME, s.CSRF_COOKIE_NAME]))"
)


def test_each_services_admin_has_cookies_of_its_own(tmp_path):
    # Browsers keep cookies per host, not per port: the admins at 127.0.0.1:8001 and :8002
    # would log each other out under Django's default names.
    names = {}
    for service in ("orders", "payments"):
        result = manage(service, production_env(tmp_path), "shell", "-c", COOKIE_PRINTER)
        assert result.returncode == 0, result.stderr
        names[service] = json.loads(result.stdout.splitlines()[-1])
    assert names == {
        "orders": ["orders_sessionid", "orders_csrftoken"],
        "payments": ["payments_sessionid", "payments_csrftoken"],
    }
