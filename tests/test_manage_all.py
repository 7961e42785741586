"""The operator's tools: manage_all.sh's commands do what its help and the README say."""

import os
import re
import stat
import subprocess
import threading
import uuid
from pathlib import Path

import httpx
import pytest

from tests.stack import REPO_ROOT, Stack, start_stack, stop_stack


def pids(stack: Stack) -> dict[str, int | None]:
    names = ["orders", "payments", "gateway", "orders-worker", "payments-worker"]
    return {name: stack.pid(name) for name in [*names, "orders-beat", "payments-beat", "flower"]}


def processes_of(var_dir: Path) -> list[int]:
    """Every process on the machine that belongs to the stack under var_dir (all of them
    inherit its VAR_DIR from manage_all.sh)."""
    marker = f"VAR_DIR={var_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


def test_status_exits_non_zero_while_a_process_is_stopped(stack):
    assert stack.manage_all("stop", "payments-beat").returncode == 0

    status = stack.manage_all("status")
    row = next(line for line in status.stdout.splitlines() if line.startswith("payments-beat"))

    assert status.returncode != 0
    assert row.split()[1] == "-"
    assert "stopped" in row
    assert stack.manage_all("start", "payments-beat").returncode == 0
    assert stack.wait_healthy().returncode == 0


def test_status_sums_up_the_metrics_of_the_orders_placed_meanwhile(stack):
    user = f"status-{uuid.uuid4()}"
    with httpx.Client(base_url=stack.gateway_url, headers={"X-User-Id": user}, timeout=10) as api:
        api.post("/accounts")
        api.post("/accounts/deposit", json={"amount": "1000.00"})
    placing, answers = threading.Event(), []

    def place_orders():  # while status runs, so its two scrapes see orders move
        with httpx.Client(base_url=stack.gateway_url, headers={"X-User-Id": user}) as api:
            while not placing.wait(0.1):
                answers.append(api.post("/orders", json={"amount": "1", "description": "s"}))

    placer = threading.Thread(target=place_orders)
    placer.start()
    try:
        status = stack.manage_all("status")
    finally:
        placing.set()
        placer.join()

    assert status.returncode == 0, status.stdout + status.stderr
    assert {answer.status_code for answer in answers} == {201}
    summary = status.stdout.split("\n\n", 1)[1]

    def per_second(figure: str) -> float:
        return float(re.search(rf"{figure} (\d+\.\d)/s", summary)[1])

    assert summary.startswith("Metrics, per second over ")
    for figure in ("requests", "placed", "finished", "succeeded", "published", "consumed"):
        assert per_second(figure) > 0, (figure, summary)
    assert per_second("cancelled") == per_second("failed") == 0, summary
    assert "5xx 0.0 %" in summary
    assert re.search(r"^  orders NEW   \d+", summary, re.MULTILINE), summary
    for service in ("orders", "payments"):
        assert re.search(rf"^  backlog      {service}: outbox \d+.*, parked 0$", summary, re.M)
    assert re.search(r"^  ledger       last audit(: never| ok, .* ago)$", summary, re.M)
    assert "  scraped      all 5 metrics endpoints" in summary


def test_restart_starts_a_new_process_that_answers(stack):
    before = stack.pid("orders")

    result = stack.manage_all("restart", "orders")

    assert result.returncode == 0, result.stderr
    assert stack.pid("orders") not in (None, before)
    assert stack.wait_healthy().returncode == 0


def test_up_twice_keeps_the_running_processes(stack):
    before = pids(stack)

    again = stack.manage_all("up")

    assert again.returncode == 0, again.stderr
    assert pids(stack) == before
    assert None not in before.values()


def test_logs_follows_a_process_log(stack):
    request_id = f"logs-{uuid.uuid4().hex[:12]}"
    answer = httpx.get(
        f"{stack.gateway_url}/orders",
        headers={"X-User-Id": "logs-reader", "X-Request-Id": request_id},
        timeout=10,
    )
    assert answer.status_code == 200

    follow = subprocess.run(  # noqa: S603
        ["timeout", "3", str(REPO_ROOT / "manage_all.sh"), "logs", "orders"],  # noqa: S607
        env=stack.env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert follow.returncode == 124  # still following when timeout stopped it
    assert "GET /orders 200" in follow.stdout
    assert f"request_id={request_id}" in follow.stdout


def test_up_writes_the_env_file_with_secrets_for_its_owner_only(stack):
    env_file = Path(stack.env["ENV_FILE"])
    values = dict(
        line.split("=", 1)
        for line in env_file.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )

    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert len(values["DJANGO_SECRET_KEY"]) >= 50
    assert values["DJANGO_SECRET_KEY"] != "change-me"
    assert len(values["INTERNAL_API_TOKEN"]) >= 32
    assert values["FLOWER_PASSWORD"]


@pytest.fixture(scope="module")
def fallen_back_stack(tmp_path_factory):
    """`up` in the automatic mode with the local PostgreSQL and RabbitMQ unreachable (as
    on a machine that has neither) and no servers configured."""
    var_dir = tmp_path_factory.mktemp("fallback")
    stack = start_stack(
        var_dir,
        EMBEDDED="auto",
        LOCAL_POSTGRES="postgres://postgres@127.0.0.1:1",
        LOCAL_RABBITMQ="amqp://guest:guest@127.0.0.1:1//",
        ORDERS_DATABASE_URL="",
        PAYMENTS_DATABASE_URL="",
        BROKER_URL="",
    )
    yield stack
    stop_stack(stack)


def test_up_falls_back_to_the_embedded_mode_when_no_server_answers(fallen_back_stack):
    assert "EMBEDDED MODE" in fallen_back_stack.up_output
    backends = Path(fallen_back_stack.env["VAR_DIR"]) / "run" / "backends.env"
    assert "sqlite:///" in backends.read_text()
    assert "BROKER_URL=filesystem://" in backends.read_text()
    assert fallen_back_stack.wait_healthy().returncode == 0


def test_down_leaves_no_process_behind(fallen_back_stack):
    var_dir = Path(fallen_back_stack.env["VAR_DIR"])
    assert len(processes_of(var_dir)) >= 9  # supervisord and the eight, with children

    down = fallen_back_stack.manage_all("down")

    assert down.returncode == 0, down.stderr
    assert processes_of(var_dir) == []
    status = fallen_back_stack.manage_all("status")
    assert status.returncode != 0
    assert "Metrics: no process answered" in status.stdout
