"""docker-compose.yml, checked without a Docker engine: `docker compose config` (or Debian's
docker-compose) parses and validates it, and the result keeps the deployment's promises."""

import json
import os
import re
import runpy
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import yaml

from tests.stack import REPO_ROOT


@pytest.fixture(scope="module")
def compose() -> dict:
    return compose_config()


@pytest.fixture(scope="module")
def observability() -> dict:
    """The services with the profile `observability` (Prometheus and Grafana) too."""
    return compose_config("--profile", "observability")


def compose_config(*options: str, **variables: str) -> dict:
    """The services of `docker compose [OPTIONS] config` given the variables the file
    requires and VARIABLES: not the .env beside it (an empty env file instead), and no
    GRAFANA_* of this environment."""
    command = ["docker", "compose"] if _has_compose_plugin() else ["docker-compose"]
    assert shutil.which(command[0]), "install docker-compose (./manage_all.sh test does)"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GRAFANA_")}
    with tempfile.NamedTemporaryFile(suffix=".env") as no_env_file:
        result = subprocess.run(  # noqa: S603
            [*command, "--env-file", no_env_file.name, *options, "config"],
            cwd=REPO_ROOT,
            env={**environment, **REQUIRED_SECRETS, **variables},
            capture_output=True,
            text=True,
        )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


# Every secret the file requires (`${VAR:?...}`), with a value of the right shape.
REQUIRED_SECRETS = {
    "DJANGO_SECRET_KEY": "x" * 50,
    "INTERNAL_API_TOKEN": "y" * 32,
    "FLOWER_PASSWORD": "z" * 16,
    "ORDERS_DB_PASSWORD": "orders-db-pw",
    "ORDERS_NOTIFY_DB_PASSWORD": "orders-notify-pw",
    "PAYMENTS_DB_PASSWORD": "payments-db-pw",
    "POSTGRES_SUPERUSER_PASSWORD": "superuser-pw",
    "ORDERS_BROKER_PASSWORD": "orders-broker-pw",
    "PAYMENTS_BROKER_PASSWORD": "payments-broker-pw",
    "FLOWER_BROKER_PASSWORD": "flower-broker-pw",
}


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


# --- Rate limits (docs/security.md) --------------------------------------------------------


def test_the_gateways_rate_limits_share_a_redis_of_their_own(compose):
    redis = compose["redis"]
    assert re.fullmatch(r"redis:\d+\.\d+\.\d+(-alpine)?", redis["image"]), redis["image"]
    assert published(redis) == []  # the compose network only
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert seconds(redis["healthcheck"]["timeout"]) < seconds(redis["healthcheck"]["interval"])
    # Buckets refill by themselves: nothing is persisted, no volume is kept.
    command = redis["command"]
    assert command[command.index("--save") + 1] == ""  # no snapshots
    assert command[command.index("--appendonly") + 1] == "no"
    assert "volumes" not in redis
    gateway = compose["gateway"]
    assert gateway["environment"]["GATEWAY_RATE_LIMIT_REDIS_URL"] == "redis://redis:6379/0"
    # Without Redis the gateway serves on with its limits off: it waits for a start only.
    assert gateway["depends_on"]["redis"]["condition"] == "service_started"


# --- Observability (docs/observability.md, deploy/observability/) ---------------------------

# The processes Prometheus scrapes, and the port of their /metrics on the compose network.
SCRAPED = {"gateway", "orders", "payments", "orders-worker", "payments-worker"}
METRICS_PORTS = {"gateway": "9100", "orders-worker": "9101", "payments-worker": "9102"}


def test_every_python_process_logs_json(compose):
    for name, service in python_services(compose).items():
        assert service["environment"]["LOG_FORMAT"] == "json", name


def test_scraped_processes_add_up_their_metrics_in_a_directory_fresh_at_every_start(compose):
    # prometheus-client's multiprocess mode; a tmpfs is empty whenever the container starts,
    # so no figures of the processes before a restart are counted again.
    for name in SCRAPED:
        directory = compose[name]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
        assert directory == "/tmp/metrics", name  # noqa: S108 - the container's own /tmp
        assert directory in compose[name].get("tmpfs", []), name
    for name in set(python_services(compose)) - SCRAPED:
        assert "PROMETHEUS_MULTIPROC_DIR" not in compose[name]["environment"], name


def test_health_checks_write_nothing_into_the_metrics_directory(compose):
    # A process of the project started with PROMETHEUS_MULTIPROC_DIR set (a `celery inspect
    # ping`) leaves a file there, which every later scrape would read.
    for name in SCRAPED:
        test = " ".join(compose[name]["healthcheck"]["test"][1:])
        if "celery" in test or "manage.py" in test:
            assert test.startswith("unset PROMETHEUS_MULTIPROC_DIR;"), name


def test_metrics_ports_are_set_and_never_published(compose):
    for name, port in METRICS_PORTS.items():
        assert compose[name]["environment"]["METRICS_PORT"] == port, name
    for name, service in compose.items():
        ports = {port for _, port in published(service)}
        assert not ports & set(METRICS_PORTS.values()), name


def test_prometheus_and_grafana_only_with_their_profile(compose, observability):
    for name in ("prometheus", "grafana"):
        assert observability[name]["profiles"] == ["observability"], name
        # docker-compose 1.x lists every service in `config`; Compose v2 leaves them out.
        assert name not in compose or compose[name]["profiles"] == ["observability"], name
    # Everything else runs without the profile.
    others = {name for name in compose if name not in ("prometheus", "grafana")}
    assert not any(compose[name].get("profiles") for name in others)


def test_prometheus_and_grafana_images_are_pinned(observability):
    for name in ("prometheus", "grafana"):
        image = observability[name]["image"]
        tag = image.rpartition(":")[2]
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), image


def test_prometheus_and_grafana_answer_on_the_hosts_loopback_only(observability):
    public = {
        name for name, service in observability.items() for ip, _ in published(service) if ip == ""
    }
    assert public == {"gateway"}
    assert published(observability["prometheus"]) == [("127.0.0.1", "9090")]
    assert published(observability["grafana"]) == [("127.0.0.1", "3000")]


def mounts(service: dict) -> list[tuple[str, str, bool]]:
    """(source, target, read-only) of each volume, in both styles `config` writes."""
    result = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            result.append((volume["source"], volume["target"], bool(volume.get("read_only"))))
        else:
            source, target, *mode = volume.split(":")
            result.append((source, target, "ro" in mode))
    return result


def container_path(service: dict, path: str) -> str:
    """The host path (in the repository) behind a path in the container's mounts."""
    for source, target, read_only in mounts(service):
        if path == target or path.startswith(target + "/"):
            assert read_only, f"{target} is mounted writable"
            return source + path[len(target) :]
    raise AssertionError(f"{path} is in no mount")


def test_their_configuration_is_the_repositorys_mounted_read_only(observability):
    prometheus = observability["prometheus"]
    config = re.search(r"--config\.file=(\S+)", " ".join(prometheus["command"])).group(1)
    config_file = container_path(prometheus, config)
    assert config_file == str(REPO_ROOT / "deploy/observability/prometheus-compose.yml")
    grafana = observability["grafana"]
    environment = grafana["environment"]
    dashboards = container_path(grafana, environment["SHOP_GRAFANA_DASHBOARDS"])
    assert dashboards == str(REPO_ROOT / "deploy/observability/grafana/dashboards")
    home = container_path(grafana, environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert os.path.isfile(home), home
    for kind in ("datasources", "dashboards"):
        provisioning = container_path(grafana, f"/etc/grafana/provisioning/{kind}")
        assert provisioning == str(REPO_ROOT / f"deploy/observability/grafana/provisioning/{kind}")
    assert environment["SHOP_PROMETHEUS_URL"] == "http://prometheus:9090"


def test_prometheus_scrapes_each_process_where_it_serves_its_metrics(observability):
    config = yaml.safe_load((REPO_ROOT / "deploy/observability/prometheus-compose.yml").read_text())
    targets = {
        job["job_name"]: target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    assert set(targets) == SCRAPED
    for job, target in targets.items():
        host, port = target.split(":")
        assert host == job, target  # the compose service of that name
        service = observability[host]
        if job in METRICS_PORTS:
            assert port == service["environment"]["METRICS_PORT"], target
        else:  # the web process's own /metrics, on the port gunicorn binds in the container
            assert re.search(rf"--bind 0\.0\.0\.0:{port}\b", command_line(service)), target


def test_grafana_has_every_variable_its_provisioning_files_read(observability):
    provisioning = REPO_ROOT / "deploy/observability/grafana/provisioning"
    used = {
        variable
        for path in provisioning.rglob("*.yml")
        for variable in re.findall(r"\$\{?(\w+)", path.read_text())
    }
    assert used == {"SHOP_PROMETHEUS_URL", "SHOP_GRAFANA_DASHBOARDS"}
    assert used <= set(observability["grafana"]["environment"])


def run_entrypoint(service: dict, **environment: str) -> subprocess.CompletedProcess:
    """A service's entrypoint, run on this machine (`config` writes a literal $ as $$)."""
    command = [part.replace("$$", "$") for part in service["entrypoint"]]
    return subprocess.run(  # noqa: S603
        command,
        env={"PATH": os.environ["PATH"], **environment},
        capture_output=True,
        text=True,
    )


def test_grafana_refuses_to_start_without_an_admin_password(observability):
    # Compose interpolates the services of every profile, so a `${GRAFANA_ADMIN_PASSWORD:?}`
    # would break `docker compose up` without the profile: the check is Grafana's entrypoint.
    grafana = observability["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == ""
    assert grafana["environment"]["GF_SECURITY_ADMIN_USER"] == "admin"
    refused = run_entrypoint(grafana, GF_SECURITY_ADMIN_PASSWORD="")
    assert refused.returncode == 1
    assert "set GRAFANA_ADMIN_PASSWORD" in refused.stderr
    # With one it goes on to the image's own entrypoint (which this machine does not have).
    started = run_entrypoint(grafana, GF_SECURITY_ADMIN_PASSWORD="s3cret")
    assert "GRAFANA_ADMIN_PASSWORD" not in started.stderr
    assert "/run.sh" in started.stderr


def test_grafana_takes_its_admin_login_from_the_environment():
    services = compose_config(
        "--profile", "observability", GRAFANA_ADMIN_USER="ops", GRAFANA_ADMIN_PASSWORD="g" * 16
    )
    assert services["grafana"]["environment"]["GF_SECURITY_ADMIN_USER"] == "ops"
    assert services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == "g" * 16


# --- Least privilege (docs/security.md) ----------------------------------------------------


def compose_config_without(missing: str) -> subprocess.CompletedProcess:
    """`config` with every required secret but MISSING, from no environment or env file."""
    command = ["docker", "compose"] if _has_compose_plugin() else ["docker-compose"]
    environment = {k: v for k, v in os.environ.items() if k not in REQUIRED_SECRETS}
    with tempfile.NamedTemporaryFile(suffix=".env") as no_env_file:
        return subprocess.run(  # noqa: S603
            [*command, "--env-file", no_env_file.name, "config"],
            cwd=REPO_ROOT,
            env={**environment, **{k: v for k, v in REQUIRED_SECRETS.items() if k != missing}},
            capture_output=True,
            text=True,
        )


def test_every_secret_the_file_requires_is_known_here_and_documented():
    lines = (REPO_ROOT / "docker-compose.yml").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    required = set(re.findall(r"\$\{(\w+):\?", text))
    assert required == set(REQUIRED_SECRETS)
    documented = set(re.findall(r"^(\w+)=", (REPO_ROOT / ".env.example").read_text(), re.M))
    assert required <= documented


@pytest.mark.parametrize("missing", sorted(REQUIRED_SECRETS))
def test_compose_stops_and_names_a_missing_secret(missing):
    result = compose_config_without(missing)
    assert result.returncode != 0
    assert f"set {missing}, see .env.example" in result.stderr


def credentials(service: dict) -> set[str]:
    return {
        name
        for name in service.get("environment", {})
        if name.endswith(("_DATABASE_URL", "_BROKER_URL", "_PASSWORD")) or name == "BROKER_URL"
    }


def test_each_container_gets_its_own_credentials_only(compose):
    orders = {"ORDERS_DATABASE_URL", "ORDERS_BROKER_URL"}
    payments = {"PAYMENTS_DATABASE_URL", "PAYMENTS_BROKER_URL"}
    for name in ("orders", "orders-worker", "orders-beat"):
        assert credentials(compose[name]) == orders, name
    for name in ("payments", "payments-worker", "payments-beat"):
        assert credentials(compose[name]) == payments, name
    # The admin's password only where the admin user is created.
    assert credentials(compose["orders-migrate"]) == orders | {"DJANGO_SUPERUSER_PASSWORD"}
    assert credentials(compose["payments-migrate"]) == payments | {"DJANGO_SUPERUSER_PASSWORD"}
    # The gateway's only one: LISTEN on Orders' database as a role that may only connect.
    assert credentials(compose["gateway"]) == {"ORDERS_NOTIFY_DATABASE_URL"}
    assert compose["gateway"]["environment"]["ORDERS_NOTIFY_DATABASE_URL"] == (
        "postgres://orders_notify:orders-notify-pw@orders-db:5432/orders"
    )
    assert compose["orders-db"]["environment"]["SERVICE_NOTIFY_PASSWORD"] == "orders-notify-pw"
    assert "SERVICE_NOTIFY_PASSWORD" not in compose["payments-db"]["environment"]
    assert credentials(compose["flower"]) == {"FLOWER_BROKER_URL"}
    assert compose["flower"]["environment"]["DJANGO_SETTINGS_MODULE"] == (
        "orders_project.settings.flower"
    )
    for name, user in (("orders", "orders"), ("payments", "payments")):
        environment = compose[name]["environment"]
        assert environment[f"{name.upper()}_BROKER_URL"] == (
            f"amqp://{user}:{REQUIRED_SECRETS[f'{name.upper()}_BROKER_PASSWORD']}@rabbitmq:5672//"
        )
        assert environment[f"{name.upper()}_DATABASE_URL"] == (
            f"postgres://{user}:{REQUIRED_SECRETS[f'{name.upper()}_DB_PASSWORD']}"
            f"@{name}-db:5432/{name}"
        )


def test_each_database_gets_the_services_own_role_at_its_creation(compose):
    for service in ("orders", "payments"):
        database = compose[f"{service}-db"]
        environment = database["environment"]
        # The image's POSTGRES_USER is a superuser: the operator's, not the service's.
        assert environment["POSTGRES_USER"] == "postgres"
        assert environment["POSTGRES_PASSWORD"] == REQUIRED_SECRETS["POSTGRES_SUPERUSER_PASSWORD"]
        assert environment["SERVICE_DB_ROLE"] == service
        password = REQUIRED_SECRETS[f"{service.upper()}_DB_PASSWORD"]
        assert environment["SERVICE_DB_PASSWORD"] == password
        script = container_path(database, "/docker-entrypoint-initdb.d/create-service-role.sh")
        assert script == str(REPO_ROOT / "deploy/postgres/create-service-role.sh")


def test_the_databases_init_script_makes_a_role_that_is_no_superuser(tmp_path):
    """Run against this machine's PostgreSQL, as the image runs it (but over TCP)."""
    role = f"test_lp_init_{os.getpid()}"
    admin = os.environ.get("DATABASE_ADMIN_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    result = subprocess.run(  # noqa: S603
        ["sh", str(REPO_ROOT / "deploy/postgres/create-service-role.sh")],  # noqa: S607
        env={
            **os.environ,
            "PGHOST": urlsplit(admin).hostname, "PGPORT": str(urlsplit(admin).port or 5432),
            "POSTGRES_USER": urlsplit(admin).username, "PGPASSWORD": urlsplit(admin).password or "",
            "SERVICE_DB_ROLE": role, "SERVICE_DB_PASSWORD": "pw", "SERVICE_NOTIFY_PASSWORD": "npw",
        },
        capture_output=True,
        text=True,
    )  # fmt: skip
    try:
        assert result.returncode == 0, result.stderr
        with psycopg.connect(admin, autocommit=True) as connection:
            assert connection.execute(
                "SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_roles"
                " WHERE rolname = %s",
                [role],
            ).fetchall() == [(False, False, False, True)]
            assert connection.execute(
                "SELECT pg_get_userbyid(datdba), datacl::text FROM pg_database WHERE datname = %s",
                [role],
            ).fetchall() == [(role, f"{{{role}=CTc/{role},{role}_notify=c/{role}}}")]
            # No PUBLIC entry: no CONNECT for anyone else; the LISTEN role may only connect.
            assert connection.execute(
                "SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_roles"
                " WHERE rolname = %s",
                [f"{role}_notify"],
            ).fetchall() == [(False, False, False, True)]
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{role}"')
            connection.execute(f'DROP ROLE IF EXISTS "{role}"')
            connection.execute(f'DROP ROLE IF EXISTS "{role}_notify"')


def test_rabbitmq_loads_the_services_users_and_no_default_one(compose, tmp_path):
    rabbitmq = compose["rabbitmq"]
    assert "RABBITMQ_DEFAULT_USER" not in rabbitmq.get("environment", {})
    assert container_path(rabbitmq, "/etc/rabbitmq/shop/entrypoint.sh") == str(
        REPO_ROOT / "deploy/rabbitmq/entrypoint.sh"
    )
    conf = container_path(rabbitmq, "/etc/rabbitmq/conf.d/20-shop.conf")
    settings = dict(
        line.split(" = ", 1)
        for line in Path(conf).read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert settings == {
        "load_definitions": "/etc/rabbitmq/shop-definitions.json",
        "loopback_users.guest": "true",
    }
    # The committed template is what deploy/broker_users.py makes, for no queue prefix.
    template = REPO_ROOT / "deploy/rabbitmq/definitions.json"
    made = subprocess.run(  # noqa: S603
        [sys.executable, str(REPO_ROOT / "deploy/broker_users.py"), "definitions", "--template"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert json.loads(template.read_text()) == json.loads(made)
    # The entrypoint fills in the passwords from the container's environment, then goes on.
    target = tmp_path / "definitions.json"
    entrypoint = [part.replace("$$", "$") for part in rabbitmq["entrypoint"]]
    started = subprocess.run(  # noqa: S603
        [entrypoint[0], container_path(rabbitmq, entrypoint[1]), "echo", "started"],
        env={
            "PATH": os.environ["PATH"],
            **rabbitmq["environment"],
            "SHOP_DEFINITIONS_TEMPLATE": str(template),
            "SHOP_DEFINITIONS": str(target),
        },
        capture_output=True,
        text=True,
    )
    assert started.returncode == 0, started.stderr
    assert started.stdout == "started\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    users = {user["name"]: user["password"] for user in json.loads(target.read_text())["users"]}
    assert users == {
        "orders": REQUIRED_SECRETS["ORDERS_BROKER_PASSWORD"],
        "payments": REQUIRED_SECRETS["PAYMENTS_BROKER_PASSWORD"],
        "flower": REQUIRED_SECRETS["FLOWER_BROKER_PASSWORD"],
    }
    refused = subprocess.run(  # noqa: S603
        [entrypoint[0], container_path(rabbitmq, entrypoint[1]), "echo", "started"],
        env={"PATH": os.environ["PATH"], "SHOP_DEFINITIONS_TEMPLATE": str(template),
             "SHOP_DEFINITIONS": str(target)},
        capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "set ORDERS_BROKER_PASSWORD" in refused.stderr
