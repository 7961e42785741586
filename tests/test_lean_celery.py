"""Beat and Flower run the lean Celery app (common/lean_celery.py): the same configuration
and beat schedule as the workers' app (common/celery.py), without Django's apps.

Each app is loaded in a fresh interpreter as `celery beat` loads it: the module named by
`-A`, then the loader's start-up (Celery's import_modules signal, where the workers' app
sets Django up and imports the task modules). The interpreter prints what beat and Flower
would use, and what it loaded. Then, on the whole stack, what they are there for: beat's
sweep carries an order through, Flower shows both services' workers."""

import json
import os
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from tests.stack import REPO_ROOT, wait_for_status

PROBE = """
import importlib, json, sys

app = importlib.import_module(sys.argv[1]).app
app.loader.import_default_modules()
app.finalize()

from celery.schedules import maybe_schedule
from django.apps import apps

from common.celery_base import ConfirmedTask


def route(task_name):
    queue = app.amqp.router.route({}, task_name)["queue"]
    return {"queue": queue.name, "exchange": queue.exchange.name, "key": queue.routing_key}


def entry(value):
    task = app.tasks[value["task"]]
    return {
        "task": value["task"],
        "schedule": repr(maybe_schedule(value["schedule"], app=app)),
        "args": list(value.get("args", ())),
        "kwargs": value.get("kwargs", {}),
        "options": value.get("options", {}),
        "route": route(value["task"]),
        "quiet_when_idle": getattr(task, "quiet_when_idle", False),
        "confirmed": isinstance(task, ConfirmedTask),
    }


conf = app.conf
print(json.dumps({
    "schedule": {name: entry(value) for name, value in conf.beat_schedule.items()},
    "conf": {
        key: conf[key]
        for key in (
            "broker_url", "broker_transport_options", "broker_heartbeat",
            "broker_connection_retry_on_startup", "broker_connection_max_retries",
            "task_default_queue", "task_routes", "control_exchange", "event_exchange",
            "event_queue_prefix", "task_serializer", "accept_content", "task_ignore_result",
            "worker_send_task_events", "task_send_sent_event", "timezone", "enable_utc",
        )
    },
    "main": app.main,
    "apps_ready": apps.ready,
    "loaded": sorted(
        name for name in sys.modules
        if name.endswith(".models") or name.split(".")[0] in ("rest_framework", "axes")
        or name.startswith("django.contrib.admin")
    ),
}, default=repr))
"""

SETTINGS = [
    "orders_project.settings.production",
    "payments_project.settings.production",
    "orders_project.settings.flower",
]
ENVIRONMENT = {
    "DJANGO_SECRET_KEY": "lean-celery-test-" + "k" * 32,
    "INTERNAL_API_TOKEN": "lean-celery-test-token",
    "DJANGO_ALLOWED_HOSTS": "localhost",
    # A value of each kind that differs from the defaults, so each is seen to be read.
    "ORDERS_BROKER_URL": "amqp://orders-user:pw@127.0.0.1:5672//",
    "PAYMENTS_BROKER_URL": "amqp://payments-user:pw@127.0.0.1:5672//",
    "FLOWER_BROKER_URL": "amqp://flower-user:pw@127.0.0.1:5672//",
    "MESSAGING_QUEUE_PREFIX": "lean-probe.",
    "MESSAGING_SWEEP_INTERVAL_SECONDS": "2.5",
    "ORDERS_REASK_AFTER_SECONDS": "45",
    # The workers' app runs Django's system checks at start-up; not what is compared here.
    "CELERY_SKIP_CHECKS": "1",
}


def probe(app_module: str, settings_module: str) -> dict:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith("_BROKER_URL") and not key.startswith("DJANGO_")
    }
    result = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", PROBE, app_module],
        env={**environment, **ENVIRONMENT, "DJANGO_SETTINGS_MODULE": settings_module},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module", params=SETTINGS)
def apps(request):
    settings_module = request.param
    full_module = settings_module.split(".")[0] + ".celery"
    return probe(full_module, settings_module), probe("common.lean_celery", settings_module)


def test_the_lean_beat_has_the_workers_schedule(apps):
    full, lean = apps
    assert lean["schedule"] == full["schedule"]
    # What the comparison covers: the shared sweeps and the service's own entries.
    assert {"relay outbox", "drain inbox", "cleanup messages"} <= set(full["schedule"])
    relay = full["schedule"]["relay outbox"]
    assert relay["schedule"] == "<freq: 2.50 seconds>"
    assert relay["route"]["queue"].startswith("lean-probe.")
    assert relay["quiet_when_idle"]
    assert relay["confirmed"]


def test_the_lean_app_has_the_workers_configuration(apps):
    full, lean = apps
    assert lean["conf"] == full["conf"]
    assert lean["main"] == full["main"]
    assert "-user:pw@" in full["conf"]["broker_url"]


def test_the_lean_app_loads_no_django_app(apps):
    full, lean = apps
    assert full["apps_ready"]
    assert full["loaded"]
    assert not lean["apps_ready"]
    assert lean["loaded"] == []


def test_flower_reads_its_own_broker_user():
    lean = probe("common.lean_celery", "orders_project.settings.flower")
    assert lean["conf"]["broker_url"].startswith("amqp://flower-user:")
    assert lean["conf"]["event_exchange"] == "lean-probe.celeryev"


# On the whole stack (manage_all.sh runs beats and Flower on the lean app).

RECORD_WITHOUT_FAST_PATH = """
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.test import override_settings

from orders_project.orders.services import order_create

# The committer does not publish: only a relay run, beat's sweep, sends the event.
with override_settings(MESSAGING={**settings.MESSAGING, "PUBLISH_AFTER_COMMIT": False}):
    with transaction.atomic():
        order = order_create(
            user_id="{user}", amount=Decimal("10"), description="swept", request_id="lean-beat"
        )
print(order.id)
"""


def test_the_lean_beats_sweep_carries_an_order_through(stack):
    user = f"lean-beat-{uuid.uuid4().hex[:8]}"
    client = httpx.Client(base_url=stack.gateway_url, headers={"X-User-Id": user}, timeout=10)
    assert client.post("/accounts").status_code == 201
    assert client.post("/accounts/deposit", json={"amount": "100"}).status_code == 200

    created = stack.manage(
        "orders", "shell", "-c", RECORD_WITHOUT_FAST_PATH.replace("{user}", user)
    )
    assert created.returncode == 0, created.stderr
    order_id = created.stdout.strip().splitlines()[-1]

    assert wait_for_status(client, f"/orders/{order_id}")["status"] == "FINISHED"


def test_the_lean_flower_shows_both_services_workers(stack):
    auth = ("admin", stack.env["FLOWER_PASSWORD"])
    deadline = time.monotonic() + 30
    while True:
        page = httpx.get(f"{stack.url('flower')}/workers?json=1", auth=auth, timeout=10)
        shown = {worker["hostname"].split(".")[0] for worker in page.json()["data"]}
        if {"orders-worker", "payments-worker"} <= shown or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert {"orders-worker", "payments-worker"} <= shown
