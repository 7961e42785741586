"""deploy/k8s/, rendered offline with `kubectl kustomize` (no cluster), and the rendered
objects checked for what docs/kubernetes.md promises.

No schema validator runs here: kubeconform and its Kubernetes JSON schemas are not on these
machines and cannot be fetched offline, and `kubectl apply --dry-run` needs an API server.
What a schema would catch that these checks do not (a misspelt field) kubectl kustomize
partly catches itself (it parses every object and applies patches by path).
"""

import configparser
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.stack import REPO_ROOT, free_ports

K8S = REPO_ROOT / "deploy" / "k8s"
OVERLAYS = ["base", "overlays/dev", "overlays/production"]
SHOP_IMAGES = ("shop-backend", "registry.example.com/shop-backend")
LAUNCH = ["python", "-m", "common.observability.launch"]
WEB = ["gateway", "orders", "payments"]
WORKERS = ["orders-worker", "payments-worker"]
BEATS = ["orders-beat", "payments-beat"]
POOLERS = ["orders-pgbouncer", "payments-pgbouncer"]
# PostgreSQL's default max_connections, less its superuser_reserved_connections.
POSTGRES_CONNECTIONS = 100 - 3


def render(directory: Path) -> list[dict]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed to render deploy/k8s (kubectl kustomize)"
    result = subprocess.run(  # noqa: S603 - kubectl on our own manifests
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, list[dict]]:
    """Each overlay's objects. The dev overlay generates its Secrets from files that are
    not committed: it renders from a copy where each comes from its *.example."""
    copy = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, copy)
    for example in (copy / "overlays" / "dev" / "secrets").glob("*.example"):
        example.with_suffix("").write_text(example.read_text())
    return {overlay: render(copy / overlay) for overlay in OVERLAYS}


def objects(docs: list[dict], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def pod_templates(docs: list[dict]) -> dict[str, dict]:
    """name -> pod template of every Deployment, StatefulSet and Job."""
    return {
        doc["metadata"]["name"]: doc["spec"]["template"]
        for doc in docs
        if doc["kind"] in ("Deployment", "StatefulSet", "Job")
    }


def containers(template: dict) -> list[dict]:
    spec = template["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def shop_containers(docs: list[dict]) -> dict[str, dict]:
    """workload name -> its main container, for the workloads that run the shop's image."""
    return {
        name: template["spec"]["containers"][0]
        for name, template in pod_templates(docs).items()
        if template["spec"]["containers"][0]["image"].startswith(SHOP_IMAGES)
    }


def env_of(container: dict) -> dict[str, dict]:
    return {item["name"]: item for item in container.get("env", [])}


def config_env() -> dict[str, str]:
    lines = (K8S / "base" / "config.env").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return dict(pairs)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_of_the_issue_is_there(rendered, overlay):
    deployments = objects(rendered[overlay], "Deployment")
    wanted = {*WEB, *WORKERS, *BEATS, *POOLERS, "flower", "redis"}
    assert wanted <= set(deployments)
    assert set(objects(rendered[overlay], "Job")) == {"orders-migrate", "payments-migrate"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_resources_and_a_restricted_security_context(rendered, overlay):
    for name, template in pod_templates(rendered[overlay]).items():
        pod = template["spec"]["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] > 0, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert template["spec"]["automountServiceAccountToken"] is False, name
        for container in containers(template):
            where = f"{name}/{container['name']}"
            for kind in ("requests", "limits"):
                assert set(container["resources"][kind]) == {"cpu", "memory"}, where
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"] == {"drop": ["ALL"]}, where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_root_filesystems_are_read_only_with_tmp_writable(rendered, overlay):
    """Everything but the dev overlay's own PostgreSQL and RabbitMQ."""
    backends = {"orders-db", "payments-db", "rabbitmq"}
    for name, template in pod_templates(rendered[overlay]).items():
        if name in backends:
            continue
        for container in containers(template):
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
    for name, container in shop_containers(rendered[overlay]).items():
        mounts = {mount["mountPath"] for mount in container.get("volumeMounts", [])}
        assert "/tmp" in mounts, name  # noqa: S108 - gunicorn, metrics, beat's schedule
        multiprocess = env_of(container).get("PROMETHEUS_MULTIPROC_DIR", {}).get("value")
        assert multiprocess in (None, "/tmp/metrics"), name  # noqa: S108


def test_the_image_runs_as_the_dockerfiles_user(rendered):
    uid = re.search(r"useradd .*--uid (\d+)", (REPO_ROOT / "deploy" / "Dockerfile").read_text())
    for name, template in pod_templates(rendered["base"]).items():
        if template["spec"]["containers"][0]["image"] == "shop-backend:latest":
            assert template["spec"]["securityContext"]["runAsUser"] == int(uid[1]), name
    images = {c["image"] for c in shop_containers(rendered["overlays/production"]).values()}
    assert images == {"registry.example.com/shop-backend:1.0.0"}


def probe_path(probe: dict) -> tuple:
    if "httpGet" in probe:
        return ("http", probe["httpGet"]["path"], probe["httpGet"]["port"])
    if "tcpSocket" in probe:
        return ("tcp", probe["tcpSocket"]["port"])
    return ("exec",)


def test_probes(rendered):
    deployments = objects(rendered["base"], "Deployment")
    for name in WEB:
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert probe_path(container["readinessProbe"]) == ("http", "/readyz", "http")
        assert probe_path(container["livenessProbe"]) == ("http", "/healthz", "http")
        # ALLOWED_HOSTS refuses the pod's IP, which the kubelet would send.
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            headers = container[probe]["httpGet"]["httpHeaders"]
            assert headers == [{"name": "Host", "value": "localhost"}]
        assert "localhost" in config_env()["DJANGO_ALLOWED_HOSTS"].split(",")
    for name in WORKERS:
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert env_of(container)["METRICS_PORT"]["value"] == "9100"
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert ports["metrics"] == 9100
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert probe_path(container[probe]) == ("http", "/metrics", "metrics"), name
    for name in BEATS:
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert "/tmp/beat-schedule" in container["livenessProbe"]["exec"]["command"][-1]  # noqa: S108
    for name in POOLERS:
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert probe_path(container["readinessProbe"]) == ("tcp", "postgres")
    for name, deployment in deployments.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert "livenessProbe" in container, name


def test_grace_periods_outlast_gunicorn_and_a_batch(rendered):
    graceful = re.search(
        r"^graceful_timeout = (\d+)", (REPO_ROOT / "deploy" / "gunicorn.conf.py").read_text(), re.M
    )
    deployments = objects(rendered["base"], "Deployment")
    for name in WEB:
        grace = deployments[name]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace > int(graceful[1]), name
    compose = compose_services()
    compose_worker_grace = int(compose["orders-worker"]["stop_grace_period"].rstrip("s"))
    for name in WORKERS:
        grace = deployments[name]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace >= compose_worker_grace, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_value_is_written_into_the_manifests(rendered, overlay):
    # Names of secrets, and the URLs that carry a password (database, broker).
    secretish = re.compile(r"SECRET|PASSWORD|TOKEN|BASIC_AUTH|DATABASE_URL$|BROKER_URL$")
    credentials_in_url = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
    for name, template in pod_templates(rendered[overlay]).items():
        for container in containers(template):
            for variable, item in env_of(container).items():
                if secretish.search(variable) and item.get("value"):
                    pytest.fail(f"{name}: {variable} is a literal value")
                assert not credentials_in_url.search(item.get("value", "")), (name, variable)
    for name, config_map in objects(rendered[overlay], "ConfigMap").items():
        for key, value in config_map.get("data", {}).items():
            assert not (secretish.search(key) and value), (name, key)
            assert not credentials_in_url.search(value), (name, key)
    secrets = objects(rendered[overlay], "Secret")
    if overlay == "overlays/dev":
        # Generated from the uncommitted files: a hash suffix, rolled on change.
        assert secrets
        assert all(re.search(r"-[a-z0-9]{10}$", name) for name in secrets)
    else:
        assert secrets == {}


def test_committed_secret_files_are_only_examples():
    committed = subprocess.run(
        ["git", "ls-files", "deploy/k8s"],  # noqa: S607
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    in_secrets = [path for path in committed if "/secrets/" in path]
    assert in_secrets
    assert all(path.endswith(".example") for path in in_secrets)
    kustomization = yaml.safe_load((K8S / "overlays" / "dev" / "kustomization.yaml").read_text())
    for generator in kustomization["secretGenerator"]:
        for source in generator.get("envs", []) + generator.get("files", []):
            path = K8S / "overlays" / "dev" / source.rpartition("=")[2]
            assert path.with_name(path.name + ".example").exists(), path
            ignored = subprocess.run(  # noqa: S603 - git on our own paths
                ["git", "check-ignore", "-q", str(path.relative_to(REPO_ROOT))],  # noqa: S607
                cwd=REPO_ROOT,
                check=False,
            )
            assert ignored.returncode == 0, f"{path} is not ignored by git"


def test_production_names_every_secret_it_needs(rendered):
    """Its kustomization lists the Secrets to create beforehand: the list is complete."""
    listed = (K8S / "overlays" / "production" / "kustomization.yaml").read_text()
    used = set()
    for template in pod_templates(rendered["overlays/production"]).values():
        for container in containers(template):
            for item in container.get("env", []):
                if reference := item.get("valueFrom", {}).get("secretKeyRef"):
                    used.add(reference["name"])
        for volume in template["spec"].get("volumes", []):
            if "secret" in volume:
                used.add(volume["secret"]["secretName"])
    for ingress in objects(rendered["overlays/production"], "Ingress").values():
        used.update(tls["secretName"] for tls in ingress["spec"].get("tls", []))
    for name in used:
        assert re.search(rf"^#\s+{re.escape(name)}\s", listed, re.M), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateway_is_exposed(rendered, overlay):
    docs = rendered[overlay]
    for name, service in objects(docs, "Service").items():
        assert service["spec"].get("type", "ClusterIP") in ("ClusterIP", "ExternalName"), name
    ingresses = objects(docs, "Ingress")
    backends = {
        path["backend"]["service"]["name"]
        for ingress in ingresses.values()
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {"gateway"}
    assert "flower" not in objects(docs, "Service")  # port-forward only


def test_autoscalers_and_disruption_budgets(rendered):
    docs = rendered["base"]
    deployments = objects(docs, "Deployment")
    autoscalers = objects(docs, "HorizontalPodAutoscaler")
    assert {hpa["spec"]["scaleTargetRef"]["name"] for hpa in autoscalers.values()} == {
        *WEB,
        *WORKERS,
    }
    budgets = objects(docs, "PodDisruptionBudget")
    protected = set()
    for budget in budgets.values():
        selector = budget["spec"]["selector"]["matchLabels"]
        matching = [
            name
            for name, deployment in deployments.items()
            if selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matching) == 1, budget["metadata"]["name"]
        protected.update(matching)
    assert {*WEB, *WORKERS, *BEATS, *POOLERS} <= protected
    for name in BEATS:
        assert deployments[name]["spec"]["replicas"] >= 2  # safe: sweeps use SKIP LOCKED


def test_migrations_run_before_the_new_version_serves(rendered):
    docs = rendered["base"]
    jobs = objects(docs, "Job")
    for service in ("orders", "payments"):
        container = jobs[f"{service}-migrate"]["spec"]["template"]["spec"]["containers"][0]
        assert f"{service}_project/manage.py migrate --no-input" in container["command"][-1]
        env = env_of(container)
        url = env[f"{service.upper()}_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert url == {"name": f"{service}-database", "key": "direct-url"}  # not the pooler
        assert env["DATABASE_POOLER"]["value"] == ""
        assert env["DB_STATEMENT_TIMEOUT_SECONDS"]["value"] == "0"
    # Every pod that uses a service's database waits for that service's migrations.
    for name, template in pod_templates(docs).items():
        main = template["spec"]["containers"][0]
        for service in ("orders", "payments"):
            if f"{service.upper()}_DATABASE_URL" in env_of(main) and name in (
                *WEB,
                *WORKERS,
            ):
                waits = [c for c in template["spec"].get("initContainers", [])]
                assert len(waits) == 1, name
                assert f"{service}_project/manage.py migrate --check" in waits[0]["command"][-1]
                assert env_of(waits[0]) == {
                    key: value for key, value in env_of(main).items() if key in env_of(waits[0])
                }, name
    deployments = objects(docs, "Deployment")
    for name in [*WEB, *WORKERS]:
        strategy = deployments[name]["spec"]["strategy"]["rollingUpdate"]
        assert strategy["maxUnavailable"] == 0, name  # the old version serves until then


def compose_services() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]


def test_commands_are_composes_under_manage_alls_launcher(rendered):
    """The same command lines as docker-compose.yml; web tiers and workers under
    common.observability.launch, as manage_all.sh starts them (it empties the metrics
    directory, which an emptyDir keeps across a container's restart)."""
    compose = compose_services()
    manage_all = (REPO_ROOT / "manage_all.sh").read_text()
    assert 'launch="$VENV/bin/python -m common.observability.launch"' in manage_all
    for name, container in shop_containers(rendered["base"]).items():
        command = container["command"]
        if name in (*WEB, *WORKERS):
            assert command[:3] == LAUNCH, name
            assert command[3:] == compose[name]["command"], name
        elif name.endswith("-migrate"):
            assert command == [part.replace("$$", "$") for part in compose[name]["command"]]
        else:
            assert command == compose[name]["command"], name
        settings = env_of(container)["DJANGO_SETTINGS_MODULE"]["value"]
        assert settings == compose[name]["environment"]["DJANGO_SETTINGS_MODULE"], name


def test_the_services_go_through_pgbouncer_and_cannot_exhaust_postgresql(rendered):
    docs = rendered["base"]
    deployments = objects(docs, "Deployment")
    autoscalers = {
        hpa["spec"]["scaleTargetRef"]["name"]: hpa["spec"]["maxReplicas"]
        for hpa in objects(docs, "HorizontalPodAutoscaler").values()
    }
    settings = config_env()
    assert settings["DATABASE_POOLER"] == "pgbouncer"
    per_web_pod = int(settings["GUNICORN_WORKERS"]) * int(settings["GUNICORN_THREADS"])
    for service in ("orders", "payments"):
        config = configparser.ConfigParser()
        config.read(K8S / "base" / "pgbouncer" / f"{service}.ini")
        pgbouncer = config["pgbouncer"]
        assert pgbouncer["pool_mode"] == "transaction"
        poolers = deployments[f"{service}-pgbouncer"]["spec"]["replicas"]
        # Clients: each pod at its HPA's maximum; a worker holds a connection in its main
        # process and in its one pool process, a beat one, a waiting init container one.
        clients = (
            autoscalers[service] * (per_web_pod + 1)
            + autoscalers[f"{service}-worker"] * (2 + 1)
            + deployments[f"{service}-beat"]["spec"]["replicas"]
        )
        assert clients <= int(pgbouncer["max_client_conn"]), service
        servers = poolers * int(pgbouncer["max_db_connections"])
        direct = 1  # the migrations Job
        if service == "orders":  # the gateway's LISTEN: one session per gunicorn worker
            direct += autoscalers["gateway"] * int(settings["GATEWAY_WORKERS"])
        assert servers + direct <= POSTGRES_CONNECTIONS, service
        assert servers < clients  # the pool is what bounds them
        for name in (service, f"{service}-worker", f"{service}-beat"):
            env = env_of(deployments[name]["spec"]["template"]["spec"]["containers"][0])
            url = env[f"{service.upper()}_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
            assert url == {"name": f"{service}-database", "key": "pooled-url"}, name
    gateway = env_of(deployments["gateway"]["spec"]["template"]["spec"]["containers"][0])
    assert gateway["DATABASE_POOLER"]["value"] == ""  # LISTEN needs a session of its own
    assert gateway["ORDERS_NOTIFY_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == (
        "gateway-notify"
    )


@pytest.mark.parametrize("service", ["orders", "payments"])
def test_pgbouncer_starts_with_the_configuration(service, tmp_path):
    """Debian's pgbouncer (1.18, older than the image's) reads the ini as deployed, with only
    the paths and the address made local."""
    pgbouncer = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(pgbouncer).exists():
        pytest.fail(
            "pgbouncer is not installed (Debian's package; `manage_all.sh test` installs it)"
        )
    port = free_ports(1)[0]
    users = tmp_path / "userlist.txt"
    users.write_text(f'"{service}" "not-a-secret"\n')
    text = (K8S / "base" / "pgbouncer" / f"{service}.ini").read_text()
    text = text.replace("/etc/pgbouncer/users/userlist.txt", str(users))
    text = re.sub(r"listen_addr = .*", "listen_addr = 127.0.0.1", text)
    text = re.sub(r"listen_port = .*", f"listen_port = {port}", text)
    config = tmp_path / "pgbouncer.ini"
    config.write_text(text)
    tmp_path.chmod(0o755)
    for path in (users, config):
        path.chmod(0o644)
    command = [pgbouncer, str(config)] + (["-u", "nobody"] if os.geteuid() == 0 else [])
    process = subprocess.Popen(  # noqa: S603 - Debian's pgbouncer
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        assert process.poll() is None, process.communicate()[0]
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert "WARNING" not in output, output
    assert "ERROR" not in output, output


# --- network policies: each path of docs/kubernetes.md, evaluated as Kubernetes would -------

INGRESS_CONTROLLER = ("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
PROMETHEUS = ("monitoring", {"app.kubernetes.io/name": "prometheus"})


def selects(selector: dict, labels: dict) -> bool:
    """A LabelSelector (matchLabels, matchExpressions with In / NotIn / Exists)."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        present = key in labels
        if operator == "In" and not (present and labels[key] in expression["values"]):
            return False
        if operator == "NotIn" and present and labels[key] in expression["values"]:
            return False
        if operator == "Exists" and not present:
            return False
    return True


def peer_matches(peer: dict, namespace: str, labels: dict, own_namespace: str) -> bool:
    if "ipBlock" in peer:
        return False  # only addresses outside the cluster's pods
    if "namespaceSelector" in peer:
        namespace_labels = {"kubernetes.io/metadata.name": namespace}
        if not selects(peer["namespaceSelector"], namespace_labels):
            return False
    elif namespace != own_namespace:
        return False
    return selects(peer.get("podSelector", {}), labels)


def rule_allows(rule: dict, side: str, namespace: str, labels: dict, port: int, own: str) -> bool:
    ports = rule.get("ports")
    if ports and not any(
        p.get("port") == port and p.get("protocol", "TCP") == "TCP" for p in ports
    ):
        return False
    peers = rule.get(side)
    return not peers or any(peer_matches(peer, namespace, labels, own) for peer in peers)


def allowed(policies: list[dict], direction: str, pod: tuple, other: tuple, port: int, own: str):
    """Whether the policies of `own` (the namespace of `pod`) let traffic through in
    `direction` ("Ingress" or "Egress") between `pod` and `other` on `port`."""
    namespace, labels = pod
    if namespace != own:
        return True  # policies of another namespace are not ours to judge
    side = "from" if direction == "Ingress" else "to"
    rules_key = direction.lower()
    applying = [
        policy
        for policy in policies
        if direction in policy["spec"].get("policyTypes", ["Ingress"])
        and selects(policy["spec"]["podSelector"], labels)
    ]
    if not applying:
        return True
    return any(
        rule_allows(rule, side, *other, port, own)
        for policy in applying
        for rule in policy["spec"].get(rules_key, [])
    )


def reachable(docs: list[dict], source: tuple, target: tuple, port: int, namespace: str) -> bool:
    policies = list(objects(docs, "NetworkPolicy").values())
    return allowed(policies, "Egress", source, target, port, namespace) and allowed(
        policies, "Ingress", target, source, port, namespace
    )


@pytest.mark.parametrize("overlay", ["overlays/dev", "overlays/production"])
def test_network_policies_allow_the_system_s_paths_and_nothing_else(rendered, overlay):
    docs = rendered[overlay]
    namespace = objects(docs, "Namespace").popitem()[0]
    pods = {
        name: (namespace, template["metadata"]["labels"])
        for name, template in pod_templates(docs).items()
    }
    default_deny = objects(docs, "NetworkPolicy")["default-deny"]["spec"]
    assert default_deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}

    def path(source, target, port):
        def pod(name_or_pod):
            return pods[name_or_pod] if isinstance(name_or_pod, str) else name_or_pod

        return reachable(docs, pod(source), pod(target), port, namespace)

    outside = (None, {})  # an address that is no pod: a managed database or broker, say
    kube_dns = ("kube-system", {"k8s-app": "kube-dns"})
    allowed_paths = [
        (INGRESS_CONTROLLER, "gateway", 8000),
        ("gateway", "orders", 8000),
        ("gateway", "payments", 8000),
        ("gateway", "redis", 6379),
        ("orders", "orders-pgbouncer", 5432),
        ("orders-worker", "orders-pgbouncer", 5432),
        ("orders-beat", "orders-pgbouncer", 5432),
        ("payments", "payments-pgbouncer", 5432),
        ("payments-worker", "payments-pgbouncer", 5432),
        ("payments-beat", "payments-pgbouncer", 5432),
        ("orders-worker", "payments", 8000),  # the reconciliation
        ("orders-worker", outside, 5672),
        ("payments-worker", outside, 5672),
        ("flower", outside, 5672),
        ("orders-pgbouncer", outside, 5432),
        ("gateway", outside, 5432),  # LISTEN on Orders' database
        ("orders-migrate", outside, 5432),
        ("gateway", kube_dns, 53),
        (PROMETHEUS, "orders-worker", 9100),
        (PROMETHEUS, "gateway", 9100),
    ]
    refused_paths = [
        (INGRESS_CONTROLLER, "orders", 8000),
        (INGRESS_CONTROLLER, "payments", 8000),
        (INGRESS_CONTROLLER, "flower", 5555),
        ("payments", "orders", 8000),
        ("flower", "orders", 8000),
        ("gateway", "orders-pgbouncer", 5432),
        ("orders", "payments-pgbouncer", 5432),
        ("payments-worker", "orders-pgbouncer", 5432),
        ("orders", outside, 5432),  # a service reaches its database through PgBouncer only
        ("orders-worker", outside, 5432),
        ("payments", "redis", 6379),
        ("gateway", outside, 5672),  # the gateway has no broker
        ("flower", outside, 5432),
        ("orders", "flower", 5555),
        (PROMETHEUS, "orders", 8000),
    ]
    if overlay == "overlays/dev":  # its own PostgreSQL and RabbitMQ, guarded from both ends
        allowed_paths += [
            ("orders-pgbouncer", "orders-db", 5432),
            ("orders-migrate", "orders-db", 5432),
            ("gateway", "orders-db", 5432),
            ("payments-pgbouncer", "payments-db", 5432),
            ("orders-worker", "rabbitmq", 5672),
            ("flower", "rabbitmq", 5672),
        ]
        refused_paths += [
            ("payments-pgbouncer", "orders-db", 5432),
            ("gateway", "payments-db", 5432),
            ("orders", "orders-db", 5432),
            ("payments-migrate", "orders-db", 5432),
            ("redis", "rabbitmq", 5672),
        ]
    for source, target, port in allowed_paths:
        assert path(source, target, port), f"{source} -> {target}:{port} is refused"
    for source, target, port in refused_paths:
        assert not path(source, target, port), f"{source} -> {target}:{port} is allowed"
