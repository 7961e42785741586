"""deploy/observability/, checked without a running Prometheus or Grafana.

promtool (Debian's prometheus package; the test command installs it) validates both
Prometheus configurations and the alert rules, runs the rules' unit tests (alerts_test.yml)
and parses every query of the dashboard. Without promtool these tests fail: they are never
skipped. The other tests need only the files: every metric the rules and the dashboard use
is one docs/observability.md lists (a renamed metric breaks them), with labels it lists;
every alert's runbook is a section of that document.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.stack import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy" / "observability"
DOCS = REPO_ROOT / "docs" / "observability.md"
CONFIGS = ["prometheus.yml", "prometheus-compose.yml"]
RULES = DEPLOY / "alerts.yml"
RULE_TESTS = DEPLOY / "alerts_test.yml"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
# Labels every scraped series gets from its target (both configurations set `service`).
TARGET_LABELS = {"job", "instance", "service"}
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")
# The figures the dashboard must show: flow, latencies, backlogs, errors.
DASHBOARD_METRICS = {
    "shop_orders_created_total", "shop_payments_total", "shop_orders_completed_total",
    "shop_messages_published_total", "shop_messages_consumed_total",
    "shop_http_request_duration_seconds_bucket", "shop_gateway_upstream_duration_seconds_bucket",
    "shop_message_handler_seconds_bucket", "shop_outbox_pending", "shop_inbox_pending",
    "shop_outbox_oldest_pending_seconds", "shop_inbox_oldest_pending_seconds", "shop_orders_new",
    "shop_orders_new_oldest_seconds", "shop_http_requests_total", "shop_inbox_failed",
    "shop_outbox_failed", "shop_messages_publish_failures_total",
    "shop_message_handler_failures_total", "up",
}  # fmt: skip


# --- promtool --------------------------------------------------------------------------------


def promtool(*arguments: str | Path) -> subprocess.CompletedProcess:
    path = shutil.which("promtool")
    assert path, (
        "promtool is missing: install Debian's prometheus package "
        "(apt-get install --no-install-recommends prometheus; ./manage_all.sh test does so "
        "when it runs as root), or put a promtool of your own on PATH"
    )
    return subprocess.run(  # noqa: S603
        [path, *map(str, arguments)], cwd=DEPLOY, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("config", CONFIGS)
def test_promtool_accepts_the_prometheus_configuration(config):
    # `check config` also checks the rule files the configuration names.
    result = promtool("check", "config", config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_accepts_the_alert_rules():
    result = promtool("check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alerts_fire_in_their_scenarios_and_only_there():
    result = promtool("test", "rules", RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_scenario_that_fires_it_and_one_that_does_not():
    fired, quiet = set(), set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case["alert_rule_test"]:
            (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert fired == set(alerts()), "alerts without a firing scenario in alerts_test.yml"
    assert quiet == set(alerts()), "alerts without a quiet scenario in alerts_test.yml"


def test_every_query_of_the_dashboard_is_valid_promql(tmp_path):
    # promtool parses expressions of rule files: each query becomes a recording rule, with
    # Grafana's $__rate_interval replaced by a duration.
    rules = [
        {"record": f"dashboard:query_{number}", "expr": expr.replace("$__rate_interval", "1m")}
        for number, (_, expr) in enumerate(dashboard_queries())
    ]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = promtool("check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the metric names contract (docs/observability.md) ----------------------------------------


def documented_metrics() -> dict[str, tuple[str, set[str]]]:
    """name -> (type, labels), from the tables of docs/observability.md."""
    metrics = {}
    for line in DOCS.read_text().splitlines():
        row = re.match(r"\|\s*`(shop_\w+)`\s*\|\s*(\w+)\s*\|([^|]*)\|", line)
        if row:
            name, kind, labels = row.groups()
            labels = re.sub(r"\([^)]*\)", "", labels)  # the values in brackets
            metrics[name] = (kind, set(re.findall(r"`(\w+)`", labels)))
    return metrics


def series_names() -> dict[str, set[str]]:
    """Each series name a query may use -> the labels it has."""
    names = {"up": set(TARGET_LABELS)}
    for name, (kind, labels) in documented_metrics().items():
        if kind == "histogram":
            names[name + "_bucket"] = labels | TARGET_LABELS | {"le"}
            names[name + "_sum"] = names[name + "_count"] = labels | TARGET_LABELS
        else:
            names[name] = labels | TARGET_LABELS
    return names


def alerts() -> dict[str, dict]:
    return {
        rule["alert"]: rule
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, expression) of every query of every dashboard."""
    queries = []
    for path in DASHBOARDS:
        for panel in all_panels(json.loads(path.read_text())):
            for target in panel.get("targets", []):
                queries.append((f"{path.name}: {panel['title']}", target["expr"]))
    return queries


def all_panels(dashboard: dict) -> list[dict]:
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # those of a collapsed row
    return panels


def all_queries() -> list[tuple[str, str]]:
    rules = [(f"alert {name}", rule["expr"]) for name, rule in alerts().items()]
    return rules + dashboard_queries()


def test_the_contract_is_readable():
    # A change of the tables' layout must not turn the next tests into no-ops.
    metrics = documented_metrics()
    assert len(metrics) >= 25, metrics
    assert metrics["shop_http_requests_total"] == ("counter", {"route", "method", "status"})
    assert metrics["shop_outbox_oldest_pending_seconds"] == ("gauge", set())
    assert metrics["shop_orders_completed_total"] == ("counter", {"status", "reason"})


def test_every_metric_used_is_one_the_contract_lists():
    names = series_names()
    for where, expr in all_queries():
        for name in re.findall(r"\bshop_\w+", expr):
            assert name in names, f"{where}: {name} is not in docs/observability.md"


def test_every_label_used_is_one_its_metrics_have():
    names = series_names()
    for where, expr in all_queries():
        # (An unknown name is the previous test's failure.)
        used = set(re.findall(r"\bshop_\w+|\bup\b", expr))
        labels = set().union(*(names.get(name, set()) for name in used))
        for name, matchers in re.findall(r"\b(shop_\w+|up)\s*\{([^}]*)\}", expr):
            for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers):
                assert label in names.get(name, set()), f"{where}: {name} has no label {label}"
        for grouping in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
            for label in re.findall(r"\w+", grouping):
                assert label in labels, f"{where}: no metric of it has the label {label}"


def test_the_dashboard_shows_flow_latencies_backlogs_and_errors():
    used = {name for _, expr in dashboard_queries() for name in re.findall(r"\b\w+\b", expr)}
    assert used >= DASHBOARD_METRICS, DASHBOARD_METRICS - used


# --- alerts ----------------------------------------------------------------------------------


def anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown document."""
    result = set()
    for heading in re.findall(r"^#+\s+(.+?)\s*$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        result.add(slug)
    return result


def test_every_alert_says_how_bad_what_happened_and_where_its_runbook_is():
    documented = anchors(DOCS.read_text())
    assert set(alerts()) >= {
        "ShopOutboxBacklogOld", "ShopInboxMessagesParked", "ShopOutboxMessagesParked",
        "ShopOrdersStuckNew", "ShopHttp5xxRateHigh", "ShopTargetDown", "ShopDatabaseUnreadable",
        "ShopLedgerAuditFailed", "ShopLedgerAuditStale",
    }  # fmt: skip
    for name, rule in alerts().items():
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        annotations = rule["annotations"]
        assert annotations["summary"], name
        assert annotations["description"], name
        document, _, anchor = annotations["runbook"].partition("#")
        assert document == "docs/observability.md", name
        assert anchor in documented, f"{name}: no section #{anchor} in docs/observability.md"


def test_database_gauges_are_one_alert_per_service_not_per_replica():
    # Every replica of a web tier reports the same figures of its service's database.
    database_gauges = {"shop_outbox", "shop_inbox", "shop_orders_new", "shop_database_up",
                       "shop_ledger_audit"}  # fmt: skip
    for name, rule in alerts().items():
        if any(gauge in rule["expr"] for gauge in database_gauges):
            assert re.search(r"max by \(job, service\) \(shop_\w+\)", rule["expr"]), name


# --- the two Prometheus configurations and the dashboard ----------------------------------------


def load(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


def scrape_jobs(config: dict) -> dict[str, list[dict]]:
    """job -> the labels of each of its static target groups."""
    return {
        job["job_name"]: [group.get("labels", {}) for group in job["static_configs"]]
        for job in config["scrape_configs"]
    }


def test_both_configurations_differ_only_in_the_addresses():
    local, compose = (load(name) for name in CONFIGS)
    assert local["global"] == compose["global"]
    assert local["rule_files"] == compose["rule_files"] == ["alerts.yml"]
    assert scrape_jobs(local) == scrape_jobs(compose)
    assert set(scrape_jobs(local)) == {
        "gateway", "orders", "payments", "orders-worker", "payments-worker",
    }  # fmt: skip
    assert local["global"]["scrape_interval"] == "15s"


def test_the_local_configuration_scrapes_the_addresses_the_documentation_gives():
    documented = {}
    for line in DOCS.read_text().splitlines():
        row = re.match(r"\|\s*([\w-]+)[^|]*\|\s*`127\.0\.0\.1:(\d+)/metrics`", line)
        if row:
            documented[row.group(1)] = f"127.0.0.1:{row.group(2)}"
    targets = {
        job["job_name"]: target
        for job in load("prometheus.yml")["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    }
    assert targets == documented


def test_the_dashboard_reads_the_provisioned_datasource():
    (datasource,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    expected = {"type": "prometheus", "uid": datasource["uid"]}
    assert DASHBOARDS
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"], path.name
        assert dashboard["title"], path.name
        assert dashboard["schemaVersion"] >= 39, path.name
        panels = all_panels(dashboard)
        ids = [panel["id"] for panel in panels]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"
        for panel in panels:
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == expected, f"{path.name}: {panel['title']}"
            assert panel["targets"], f"{path.name}: {panel['title']}"
            for target in panel["targets"]:
                assert target["datasource"] == expected, f"{path.name}: {panel['title']}"


def test_the_dashboards_panels_do_not_overlap():
    for path in DASHBOARDS:
        cells: dict[tuple[int, int], str] = {}
        for panel in all_panels(json.loads(path.read_text())):
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, panel["title"]
            for x in range(grid["x"], grid["x"] + grid["w"]):
                for y in range(grid["y"], grid["y"] + grid["h"]):
                    assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                    cells[(x, y)] = panel["title"]
