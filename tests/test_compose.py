"""docker-compose.yml, checked without a Docker engine: `docker compose config` (or Debian's
docker-compose) parses and validates it, and the result keeps the deployment's promises."""

import os
import re
import runpy
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


def python_services(compose: dict) -> dict[str, dict]:
    """The services that run the project's image (every Python process)."""
    return {name: service for name, service in compose.items() if "build" in service}


def long_running(compose: dict) -> dict[str, dict]:
    """Python services that keep running (not the one-shot migrations)."""
    return {
        name: service
        for name, service in python_services(compose).items()
        if service.get("restart") != "no"
    }


def seconds(duration: str | int | float) -> float:
    """A compose duration ("1m30s", "20s", "500ms") in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", duration)
    assert "".join(number + unit for number, unit in parts) == duration, duration
    return sum(float(number) * units[unit] for number, unit in parts)


def gunicorn_graceful_timeout() -> float:
    config = runpy.run_path(str(REPO_ROOT / "deploy" / "gunicorn.conf.py"))
    return float(config.get("graceful_timeout", 30))  # gunicorn's own default: 30 s


def command_line(service: dict) -> str:
    command = service["command"]
    return command if isinstance(command, str) else " ".join(command)


def test_every_python_process_runs_under_an_init(compose):
    # tini as PID 1 passes SIGTERM on to the process and reaps what it orphans.
    services = python_services(compose)
    assert {"gateway", "orders", "payments", "orders-migrate", "flower"} <= set(services)
    for name, service in services.items():
        assert service.get("init") is True, name


def test_every_python_process_gets_longer_to_stop_than_gunicorn_gives_a_request(compose):
    graceful = gunicorn_graceful_timeout()
    for name, service in long_running(compose).items():
        assert seconds(service.get("stop_grace_period", "10s")) > graceful, name
    # A Celery worker finishes its task and batch in hand first (a warm shutdown).
    for name in ("orders-worker", "payments-worker"):
        assert seconds(compose[name]["stop_grace_period"]) >= 60, name


def test_every_long_running_python_process_has_a_health_check(compose):
    services = long_running(compose)
    assert set(services) == {
        "gateway", "orders", "payments", "orders-worker", "orders-beat", "payments-worker",
        "payments-beat", "flower",
    }  # fmt: skip
    for name, service in services.items():
        check = service.get("healthcheck", {})
        assert check.get("test"), name
        assert not check.get("disable"), name
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert seconds(check["timeout"]) < seconds(check["interval"]), name


def test_workers_are_checked_by_a_ping_to_their_own_node(compose):
    for name in ("orders-worker", "payments-worker"):
        service = compose[name]
        app = re.search(r"-A (\S+)", command_line(service)).group(1)
        node = re.search(r"--hostname (\S+)@%h", command_line(service)).group(1)
        test = " ".join(service["healthcheck"]["test"][1:])
        assert re.search(
            rf"celery -A {app} inspect ping (-d|--destination) {node}@\$\$?HOSTNAME\b", test
        ), test


def test_beats_are_checked_by_the_age_of_the_schedule_file_they_write(compose):
    for name in ("orders-beat", "payments-beat"):
        service = compose[name]
        schedule = re.search(r"--schedule (\S+)", command_line(service)).group(1)
        test = " ".join(service["healthcheck"]["test"][1:])
        assert f"glob.glob('{schedule}*')" in test
        assert "getmtime" in test


def test_flower_is_checked_by_its_healthcheck_endpoint(compose):
    port = re.search(r"--port=(\d+)", command_line(compose["flower"])).group(1)
    assert f"http://127.0.0.1:{port}/healthcheck" in " ".join(
        compose["flower"]["healthcheck"]["test"]
    )


def test_flowers_login_is_never_on_its_command_line(compose):
    flower = compose["flower"]
    assert "z" * 16 not in " ".join(flower["command"])
    assert flower["environment"]["FLOWER_BASIC_AUTH"] == "admin:" + "z" * 16


def test_the_reconciliation_finds_payments_from_orders_worker(compose):
    for name in ("orders-worker", "orders-beat"):
        assert compose[name]["environment"]["PAYMENTS_URL"] == "http://payments:8000"
