"""docker-compose.yml, checked without a Docker engine: `docker compose config` (or Debian's
docker-compose) parses and validates it, and the result keeps the deployment's promises."""

import os
import shutil
import subprocess

import pytest
import yaml

from tests.stack import REPO_ROOT


@pytest.fixture(scope="module")
def compose() -> dict:
    command = ["docker", "compose"] if _has_compose_plugin() else ["docker-compose"]
    assert shutil.which(command[0]), "install docker-compose (./manage_all.sh test does)"
    result = subprocess.run(  # noqa: S603
        [*command, "config"],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "DJANGO_SECRET_KEY": "x" * 50,
            "INTERNAL_API_TOKEN": "y" * 32,
            "FLOWER_PASSWORD": "z" * 16,
        },
        capture_output=True,
        text=True,
        check=True,
    )
    return yaml.safe_load(result.stdout)["services"]


def _has_compose_plugin() -> bool:
    if not shutil.which("docker"):
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True)  # noqa: S607
    return probe.returncode == 0


def published(service: dict) -> list[tuple[str, str]]:
    """(host address, port) of each published port; "" address means every interface."""
    result = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            result.append((port.get("host_ip", ""), str(port["published"])))
        else:
            parts = str(port).split(":")
            result.append((parts[0] if len(parts) == 3 else "", parts[-2]))
    return result


def test_the_whole_system_is_there(compose):
    assert set(compose) >= {
        "gateway", "orders", "payments", "orders-worker", "orders-beat", "payments-worker",
        "payments-beat", "flower", "rabbitmq", "orders-db", "payments-db",
    }  # fmt: skip


def test_only_the_gateway_is_published_to_the_world(compose):
    public = {name for name, service in compose.items() for ip, _ in published(service) if ip == ""}
    assert public == {"gateway"}
    assert published(compose["gateway"]) == [("", "8080")]
    for name in ("orders", "payments", "flower"):  # admin and Flower: the host's loopback
        assert all(ip == "127.0.0.1" for ip, _ in published(compose[name]))


def test_processes_start_when_what_they_need_is_healthy(compose):
    for name in ("gateway", "orders", "payments", "rabbitmq", "orders-db", "payments-db"):
        assert "healthcheck" in compose[name], name
    assert compose["gateway"]["depends_on"]["orders"]["condition"] == "service_healthy"
    for name in ("orders", "payments", "orders-worker", "payments-beat"):
        depends = compose[name]["depends_on"]
        assert depends["orders-migrate"]["condition"] == "service_completed_successfully"
        assert depends["rabbitmq"]["condition"] == "service_healthy"
