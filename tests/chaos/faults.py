"""The faults: crashes, pauses and outages of the stack's processes, RabbitMQ and PostgreSQL,
and messages nobody should have sent. Each `inject_*` injects one fault and undoes it the way
production would (a supervisor restarts what died, an operator starts what was stopped);
`heal` then makes sure everything runs again, whatever a fault left behind.

RabbitMQ and PostgreSQL are the machine's own servers: the suite stops, pauses and restarts
them, so it needs to run as a user allowed to (root on the CI machines), and nothing else
should use them meanwhile.
"""

import contextlib
import dataclasses
import os
import signal
import subprocess
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
import psycopg
from psycopg.types.json import Jsonb

from common.messaging.envelope import Envelope, parse_body
from common.testing import broker
from tests.stack import REPO_ROOT, SERVER, Stack

# The supervisor must bring a killed process back running within this (the issue: answering
# within 10 s; `heal` then waits until it answers).
RESTART_WITHIN = 10.0
# A request while PostgreSQL does not answer gets the service's 503 before the gateway would
# give up on the service (UPSTREAM_READ_TIMEOUT_SECONDS, 10 s). Its own wait is at most 7 s
# (common/settings/base.py), but under the workload it may first queue for a gunicorn thread
# held by another request's wait: a 5-minute soak saw 3 s of queue and 6 s of wait, 9.0 s.
OUTAGE_ANSWER_WITHIN = 10.0
WEB = ["orders", "payments", "gateway"]
WORKERS = ["orders-worker", "payments-worker"]
BEATS = ["orders-beat", "payments-beat"]
PROCESSES = [*WEB, *WORKERS, *BEATS, "flower"]
# Who consumes each logical queue: the inbox a message on it lands in.
CONSUMER_OF_QUEUE = {"orders": "payments", "payment_status": "orders"}


class FaultNotInjected(RuntimeError):
    """The fault could not be injected (say, its process was not running): the scenario
    fails rather than report a fault that never happened."""


class FaultNotHealed(RuntimeError):
    """What the system should heal by itself (a supervisor's restart) was not healed."""


def run(*command: str, timeout: float = 120) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {result.stdout} {result.stderr}".strip())
    return result.stdout


class Faults:
    def __init__(self, stack: Stack):
        self.stack = stack
        # Poison injected on purpose, by the inbox it must be parked in.
        self.poison: dict[str, set[str]] = {"orders": set(), "payments": set()}
        self.extra_beats: list[subprocess.Popen] = []
        self.extra_workers: list[subprocess.Popen] = []
        # Asked once, while RabbitMQ answers: rabbitmqctl hangs while it is paused.
        self.rabbitmq_pid = rabbitmq_pid()

    # --- the stack's processes -----------------------------------------------------------

    def pid(self, name: str) -> int | None:
        """The running process `name` (its group leader: supervisord starts each in its
        own process group), or None."""
        return self.stack.pid(name)

    def children(self, name: str) -> list[int]:
        pid = self.pid(name)
        return [] if pid is None else children_of(pid)

    def kill(self, name: str, *, main_first: bool = False) -> int:
        """kill -9 the process and what it started, as a crash of its container would; the
        pid it had. A process that is not running is an error: the fault did not happen."""
        pid = self.pid(name)
        if pid is None:
            raise FaultNotInjected(f"{name} is not running: nothing to kill")
        if main_first:
            # The main process dies alone first: its children are caught mid-work.
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        _signal_group(pid, signal.SIGKILL)
        _wait_gone(pid)
        return pid

    def crash(self, name: str, *, main_first: bool = False) -> str:
        """kill -9; nobody restarts it but the supervisor, which must within RESTART_WITHIN."""
        old_pid = self.kill(name, main_first=main_first)
        killed_at = time.monotonic()
        while (pid := self.pid(name)) in (None, old_pid):
            if time.monotonic() - killed_at > RESTART_WITHIN:
                raise FaultNotHealed(f"{name} not restarted {RESTART_WITHIN:g} s after kill -9")
            time.sleep(0.1)
        return f"back as {pid} in {time.monotonic() - killed_at:.1f} s"

    def signal_group(self, name: str, signum: int) -> None:
        if (pid := self.pid(name)) is None:
            raise FaultNotInjected(f"{name} is not running: no signal sent")
        _signal_group(pid, signum)

    # --- injections: each returns what it did, for the report ----------------------------

    def inject_worker_kill(self, cycle: int) -> str:
        name = WORKERS[cycle % len(WORKERS)]
        return f"kill -9 {name} main process, {self.crash(name, main_first=True)}"

    def inject_pool_child_kill(self, cycle: int) -> str:
        name = WORKERS[cycle % len(WORKERS)]
        children = self.children(name)
        if not children:
            raise FaultNotInjected(f"{name} has no pool child")
        os.kill(children[cycle % len(children)], signal.SIGKILL)
        return f"kill -9 a pool child of {name}"

    def inject_beat_kill(self, cycle: int) -> str:
        name = BEATS[cycle % len(BEATS)]
        return f"kill -9 {name}, {self.crash(name)}"

    def inject_second_beats(self, seconds: float) -> str:
        """A second beat for each service, as after a botched deploy, for a while."""
        for name in BEATS:
            service = name.split("-")[0]
            schedule = Path(self.stack.env["VAR_DIR"]) / f"extra-{name}-{uuid.uuid4().hex[:6]}"
            self.extra_beats.append(
                subprocess.Popen(  # noqa: S603
                    [
                        str(REPO_ROOT / ".venv/bin/celery"),
                        "-A",
                        "common.lean_celery",  # as manage_all.sh starts beats
                        "beat",
                        "--schedule",
                        str(schedule),
                        "--loglevel",
                        "WARNING",
                    ],
                    env={
                        **self.stack.env,
                        "DJANGO_SETTINGS_MODULE": f"{service}_project.settings.production",
                    },
                    cwd=REPO_ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        time.sleep(seconds)
        self.stop_extra_beats()
        return "a second beat of each service"

    def inject_competing_consumers(self, seconds: float) -> str:
        """A second worker (so a second consumer of each queue, competing for the same
        accounts and orders) and a second beat (so two relays and two drains) per service,
        for a while. No message may spend an attempt on a deadlock meanwhile: batch handlers
        take their locks in sorted order (runner.deadlocked_messages checks it)."""
        for name in WORKERS:
            service = name.split("-")[0]
            self.extra_workers.append(
                subprocess.Popen(  # noqa: S603
                    [
                        str(REPO_ROOT / ".venv/bin/celery"),
                        "-A",
                        f"{service}_project",
                        "worker",
                        "--pool",
                        "prefork",
                        "--concurrency",
                        "1",
                        "--hostname",
                        f"extra-{name}-{uuid.uuid4().hex[:6]}@%h",
                        "--loglevel",
                        "WARNING",
                    ],
                    env={
                        **{k: v for k, v in self.stack.env.items() if k != "METRICS_PORT"},
                        "DJANGO_SETTINGS_MODULE": f"{service}_project.settings.production",
                    },
                    cwd=REPO_ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        try:
            self.inject_second_beats(seconds)
        finally:
            self.stop_extra_workers()
        return "a second worker (consumer) and a second beat of each service"

    def stop_extra_workers(self) -> None:
        """A warm shutdown (SIGTERM to the worker's group): it acks what it handled, and
        the broker hands what it held unacked to the stack's own consumers."""
        for worker in self.extra_workers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        self.extra_workers.clear()

    def stop_extra_beats(self) -> None:
        for beat in self.extra_beats:
            beat.kill()
            beat.wait()
        self.extra_beats.clear()

    def inject_web_kill(self, cycle: int) -> str:
        name = WEB[cycle % len(WEB)]
        return f"kill -9 {name} (gunicorn master and workers), {self.crash(name)}"

    def inject_rabbitmq_stop(self) -> str:
        run("rabbitmqctl", "-q", "stop_app")
        time.sleep(3)
        run("rabbitmqctl", "-q", "start_app")
        return "rabbitmqctl stop_app; 3 s; start_app"

    def inject_rabbitmq_close_connections(self) -> str:
        run("rabbitmqctl", "-q", "close_all_connections", "chaos: connections closed")
        return "rabbitmqctl close_all_connections"

    def inject_postgres_restart(self) -> str:
        run(
            "pg_ctlcluster", "--skip-systemctl-redirect", *postgres_cluster(), "restart",
            "-m", "immediate",
        )  # fmt: skip
        return "PostgreSQL restarted in immediate mode"

    def inject_postgres_terminate(self) -> str:
        with psycopg.connect(_server_url("postgres"), autocommit=True) as connection:
            killed = connection.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
                [list(self.stack.databases.values())],
            ).fetchone()[0]
        return f"pg_terminate_backend of {killed} connections"

    def inject_postgres_pause(self, seconds: float = 10) -> str:
        """SIGSTOP of the whole PostgreSQL server (postmaster and every backend), as a frozen
        VM: clients must get 503s within the time-outs, never hang. A request sent during
        the pause proves it."""
        postmaster = postmaster_pid()
        if postmaster is None:
            raise FaultNotInjected("no PostgreSQL postmaster found")
        paused: list[int] = []
        started = time.monotonic()
        try:
            # The postmaster first: it forks no new backend while the others are stopped.
            for pid in [postmaster, *children_of(postmaster)]:
                with contextlib.suppress(ProcessLookupError):  # a backend that just exited
                    os.kill(pid, signal.SIGSTOP)
                    paused.append(pid)
            probe = self._request_during_outage()
            time.sleep(max(0.0, seconds - (time.monotonic() - started)))
        finally:
            for pid in paused:
                _continue(pid)
        return f"SIGSTOP PostgreSQL ({len(paused)} processes) {seconds:g} s, SIGCONT; {probe}"

    def _request_during_outage(self) -> str:
        """One request through the gateway while the database does not answer: it must be
        the service's 503 within the gateway's patience, not a 504 or a hang."""
        started = time.monotonic()
        answer = httpx.get(
            f"{self.stack.gateway_url}/accounts/balance",
            headers={"X-User-Id": f"chaos-probe-{uuid.uuid4()}"},
            timeout=30,
        )
        took = time.monotonic() - started
        if answer.status_code != 503 or took > OUTAGE_ANSWER_WITHIN:
            raise FaultNotHealed(f"during the outage: {answer.status_code} after {took:.1f} s")
        return f"a request meanwhile: 503 in {took:.1f} s"

    def inject_postgres_down(self, seconds: float = 60) -> str:
        """PostgreSQL stopped for a minute under load; the backlog is worked off after."""
        run("pg_ctlcluster", "--skip-systemctl-redirect", *postgres_cluster(), "stop", "-m", "fast")
        if postgres_running():
            raise FaultNotInjected("PostgreSQL still answers after stop")
        try:
            time.sleep(seconds)
        finally:
            run("pg_ctlcluster", "--skip-systemctl-redirect", *postgres_cluster(), "start")
        return f"PostgreSQL stopped {seconds:g} s, started"

    def instances(self, kind: str) -> list[str]:
        """A process's instances on this stack: orders-worker, orders-worker-2, ... (SCALE)."""
        scale = int(self.stack.env.get("SCALE", "1"))
        return [kind, *(f"{kind}-{instance}" for instance in range(2, scale + 1))]

    def inject_parked_and_lost_results(self, seconds: float) -> str:
        """Payment results that never reach their orders: with Orders' worker stopped for a
        while, every result waiting on its queue is taken; half are parked as failed in
        Orders' inbox (as after their last attempt), half are lost (as with a broker's
        disk). Only the re-ask (ORDERS_REASK_AFTER_SECONDS) can then finish those orders.
        On a scaled stack every instance of the worker stops: another would take them."""
        workers = self.instances("orders-worker")
        result = self.stack.supervisorctl("stop", *workers)
        if result.returncode != 0:
            raise FaultNotInjected(f"stopping {workers}: {result.stdout} {result.stderr}")
        try:
            time.sleep(seconds)
            queue = self.stack.env["MESSAGING_QUEUE_PREFIX"] + "payment_status"
            messages = broker.take_messages(queue, timeout=1.0)
            parked = self._park_in_orders_inbox(queue, messages[::2])
        finally:
            started = self.stack.supervisorctl("start", *workers)
        if started.returncode != 0:
            raise FaultNotHealed(f"starting {workers}: {started.stdout} {started.stderr}")
        if not messages:
            raise FaultNotInjected("no payment result was waiting: nothing parked or lost")
        return f"{parked} payment results parked, {len(messages) - parked} lost"

    def _park_in_orders_inbox(self, queue: str, messages: list) -> int:
        """Stores the messages as parked; one the stopping worker had already stored (and
        could not ack) is left as it is, and counts as lost. The number parked."""
        parked = 0
        with psycopg.connect(self.stack.env["ORDERS_DATABASE_URL"]) as connection:
            for message in messages:
                body = message.body  # kombu hands JSON over as text
                envelope = parse_body(body.encode() if isinstance(body, str) else body)
                inserted = connection.execute(
                    "INSERT INTO messaging_inboxmessage (message_id, type, version,"
                    " source_queue, payload, headers, raw_body, status, received_at,"
                    " attempts, next_attempt_at, last_error)"
                    " VALUES (%s, %s, %s, %s, %s, %s, '', 'failed', now(), 8, now(), %s)"
                    " ON CONFLICT (message_id) DO NOTHING RETURNING id",
                    [
                        envelope.id,
                        envelope.type,
                        envelope.version,
                        queue,
                        Jsonb(envelope.payload),
                        Jsonb(envelope.headers),
                        "chaos: parked on purpose",
                    ],
                ).fetchone()
                if inserted:
                    self.poison["orders"].add(envelope.id)
                    parked += 1
        return parked

    def inject_worker_pause(self, cycle: int, seconds: float = 4) -> str:
        name = WORKERS[cycle % len(WORKERS)]
        self.signal_group(name, signal.SIGSTOP)
        time.sleep(seconds)
        self.signal_group(name, signal.SIGCONT)
        return f"SIGSTOP {name} {seconds:g} s, SIGCONT"

    def inject_rabbitmq_pause(self, seconds: float = 4) -> str:
        os.kill(self.rabbitmq_pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.kill(self.rabbitmq_pid, signal.SIGCONT)
        return f"SIGSTOP RabbitMQ {seconds:g} s, SIGCONT"

    def inject_duplicates(self, count: int = 10) -> str:
        """Copies of messages already sent: the same id again (a redelivery) and the same
        content under a new id (a replay by a confused tool)."""
        published = 0
        for service in ("orders", "payments"):
            for row in self._sent_outbox_rows(service, count):
                destination, envelope = _envelope_of(*row)
                copy = dataclasses.replace(envelope, id=str(uuid.uuid4()))
                for message in (envelope, copy):
                    self._publish(destination, message.to_body(), message.id)
                published += 2
        return f"{published} duplicated or replayed messages"

    def inject_poison(self) -> str:
        """On each queue: bytes that are no envelope, and an envelope whose payload fails
        validation. Both must be parked as failed in the consumer's inbox."""
        bad_payloads = {
            "orders": ("order.created", {"order_id": "not-a-uuid", "amount": "-1"}),
            "payment_status": ("payment.result", {"order_id": "x", "status": "maybe"}),
        }
        for queue, (message_type, payload) in bad_payloads.items():
            garbage_id = f"chaos-poison-{uuid.uuid4()}"
            self._publish(queue, b"\xff\xfe not json at all", garbage_id)
            invalid_id = f"chaos-poison-{uuid.uuid4()}"
            envelope = Envelope(id=invalid_id, type=message_type, version=1, payload=payload)
            self._publish(queue, envelope.to_body(), invalid_id)
            self.poison[CONSUMER_OF_QUEUE[queue]] |= {garbage_id, invalid_id}
        return "2 poison messages on each queue"

    def _sent_outbox_rows(self, service: str, count: int) -> list[tuple]:
        with psycopg.connect(self.stack.env[f"{service.upper()}_DATABASE_URL"]) as connection:
            return connection.execute(
                "SELECT id, type, version, destination, payload, headers, created_at"
                " FROM messaging_outboxmessage WHERE status = 'sent'"
                " ORDER BY random() LIMIT %s",
                [count],
            ).fetchall()

    def _publish(self, queue: str, body: bytes, message_id: str) -> None:
        broker.publish_raw(
            self.stack.env["MESSAGING_QUEUE_PREFIX"] + queue,
            body,
            message_id=message_id,
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
        )

    # --- healing -------------------------------------------------------------------------

    def heal(self, *, timeout: float = 120) -> None:
        """Undo what an operator would: paused processes continued, RabbitMQ's app and
        PostgreSQL started, extra beats stopped. A crashed process is NOT started here: the
        supervisor must have done it. Then wait until every process answers."""
        os.kill(self.rabbitmq_pid, signal.SIGCONT)
        for pid in postgres_pids():
            _continue(pid)
        for name in PROCESSES:
            if (pid := self.pid(name)) is not None:
                _signal_group(pid, signal.SIGCONT)
        self.stop_extra_beats()
        self.stop_extra_workers()
        run("rabbitmqctl", "-q", "start_app")
        run("rabbitmqctl", "-q", "await_startup")
        if not postgres_running():
            run("pg_ctlcluster", "--skip-systemctl-redirect", *postgres_cluster(), "start")
        wait_for_postgres()
        deadline = time.monotonic() + timeout
        while (status := self.stack.manage_all("status")).returncode != 0:
            if time.monotonic() > deadline:
                raise FaultNotHealed(f"the stack did not heal in {timeout:g} s:\n{status.stdout}")
            time.sleep(1)


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)


def _wait_gone(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # A killed process stays a zombie until supervisord reaps it; a zombie holds
        # nothing. Reaped between the two looks, it is gone.
        try:
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return
        except (FileNotFoundError, ProcessLookupError):  # reaped while opening or reading
            return
        time.sleep(0.05)


def _envelope_of(
    message_id, message_type, version, destination, payload, headers, created_at: datetime
) -> tuple[str, Envelope]:
    """An outbox row (as _sent_outbox_rows reads it): its queue, and its envelope again."""
    return destination, Envelope(
        id=str(message_id),
        type=message_type,
        version=version,
        payload=payload,
        source="chaos-replay",
        occurred_at=created_at.isoformat(),
        headers=headers,
    )


def _continue(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)


def postmaster_pid() -> int | None:
    """The postmaster of the local cluster."""
    version, name = postgres_cluster()
    pid_file = Path(f"/var/lib/postgresql/{version}/{name}/postmaster.pid")
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def children_of(pid: int) -> list[int]:
    try:
        return [
            int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        ]
    except OSError:
        return []


def postgres_pids() -> list[int]:
    """The postmaster and every process it started (to continue them all in `heal`)."""
    postmaster = postmaster_pid()
    return [] if postmaster is None else [postmaster, *children_of(postmaster)]


def postgres_running() -> bool:
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"], check=False).returncode == 0  # noqa: S607


def rabbitmq_pid() -> int:
    return int(run("rabbitmqctl", "-q", "eval", "os:getpid().").strip().strip('"'))


def postgres_cluster() -> list[str]:
    """The local cluster's version and name, as pg_ctlcluster wants them."""
    version, name = run("pg_lsclusters", "--no-header").split()[:2]
    return [version, name]


def _server_url(database: str) -> str:
    return f"{SERVER}/{database}"


def wait_for_postgres(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(_server_url("postgres"), connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
