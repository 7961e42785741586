"""Django behind PgBouncer in transaction mode, as deploy/k8s/ runs it in front of each
database (docs/kubernetes.md, "PgBouncer").

Debian's pgbouncer starts on a free port in front of this machine's PostgreSQL with a pool
of a few server connections. Payments' own code (account_deposit and order_pay, which lock
the account with select_for_update and the order with pg_advisory_xact_lock) runs in child
processes with DATABASE_POOLER=pgbouncer, from many more connections than the pool holds:
every transaction may land on another server connection, and the balances still come out
exact, each order charged once.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from tests.stack import SERVER, free_ports

REPO_ROOT = Path(__file__).resolve().parents[1]
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
SERVER_CONNECTIONS = 4  # the pool: far fewer than the clients below
PROCESSES, THREADS = 3, 8  # 24 client connections at once
ACCOUNTS, ORDERS, DEPOSITS_PER_THREAD = 4, 40, 10
START_BALANCE, DEPOSIT, PRICE = Decimal("1000.00"), Decimal("0.01"), Decimal("1.00")
# What deploy/k8s/base/pgbouncer/pgbouncer.ini sets on every server connection, since
# PgBouncer refuses the `options` startup parameter that carries them otherwise.
CONNECT_QUERY = "SET statement_timeout = 5000; SET lock_timeout = 3000"

# Run in each child process: Django with Payments' settings, through the pooler.
WORKLOAD = textwrap.dedent(
    """
    import json, random, sys, threading, uuid
    from decimal import Decimal

    import django

    django.setup()
    from django.db import connection, connections
    from payments_project.payments.models import Account
    from payments_project.payments.services import account_deposit, order_pay

    mode, users, orders, threads, deposits = sys.argv[1], *map(json.loads, sys.argv[2:6])
    if mode == "probe":
        with connection.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            timeout = cursor.fetchone()[0]
        streamed = sum(1 for _ in Account.objects.order_by("user_id").iterator(chunk_size=1))
        print(json.dumps({"statement_timeout": timeout, "streamed": streamed}))
        sys.exit()

    deposited = {user: 0 for user in users}
    lock = threading.Lock()
    failures = []

    def work(seed):
        pick = random.Random(seed)
        try:
            for order in pick.sample(orders, len(orders)):
                order_id = uuid.UUID(order)
                order_pay(order_id=order_id, user_id=users[order_id.int % len(users)],
                          amount=Decimal("1.00"))
                if pick.random() < deposits / len(orders):
                    user = pick.choice(users)
                    account_deposit(user_id=user, amount=Decimal("0.01"))
                    with lock:
                        deposited[user] += 1
        except Exception as exc:
            failures.append(repr(exc))
        finally:
            connections.close_all()

    workers = [threading.Thread(target=work, args=(f"{mode}-{n}",)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print(json.dumps({"deposited": deposited, "failures": failures}))
    """
)


@pytest.fixture(scope="module")
def database():
    """A database of this module's own, migrated directly (not through the pooler, as the
    migrations Job does)."""
    name = f"test_payments_pgbouncer_{os.environ['TEST_RUN_ID']}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        result = run_django(direct_url(name), "payments_project/manage.py", "migrate", "--no-input")
        assert result.returncode == 0, result.stderr
        yield name
    finally:
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def pgbouncer(database, tmp_path_factory):
    """PgBouncer in transaction mode on a free port; yields its port."""
    if not Path(PGBOUNCER).exists():
        pytest.fail(
            "pgbouncer is not installed (Debian's package; `manage_all.sh test` installs it)"
        )
    directory = tmp_path_factory.mktemp("pgbouncer")
    directory.chmod(0o755)  # it runs as nobody when started by root, and reads from here
    host, port = SERVER.rpartition("@")[2].split(":")
    listen_port = free_ports(1)[0]
    users = directory / "users.txt"
    users.write_text('"postgres" ""\n')
    config = directory / "pgbouncer.ini"
    config.write_text(
        textwrap.dedent(
            f"""\
            [databases]
            {database} = host={host} port={port} dbname={database} user=postgres \
                connect_query='{CONNECT_QUERY}'
            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = {listen_port}
            unix_socket_dir =
            auth_type = trust
            auth_file = {users}
            admin_users = postgres
            pool_mode = transaction
            default_pool_size = {SERVER_CONNECTIONS}
            max_db_connections = {SERVER_CONNECTIONS}
            max_client_conn = 200
            """
        )
    )
    for path in (users, config):
        path.chmod(0o644)
    command = [PGBOUNCER, str(config)] + (["-u", "nobody"] if os.geteuid() == 0 else [])
    log = directory / "pgbouncer.log"
    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: S603 - Debian's pgbouncer
            command, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(listen_port, process, log)
        yield listen_port
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, f"pgbouncer exited:\n{log.read_text()}"
        try:
            psycopg.connect(
                f"postgresql://postgres@127.0.0.1:{port}/pgbouncer", autocommit=True
            ).close()
            return
        except psycopg.OperationalError:
            time.sleep(0.1)
    raise AssertionError(f"pgbouncer did not listen on {port}:\n{log.read_text()}")


def django_environment(url: str, pooler: str) -> dict:
    """A child's environment: Payments' settings on `url`, persistent connections as in
    production (each holds a client slot of PgBouncer, not a server connection)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "payments_project.settings.base",
        "PAYMENTS_DATABASE_URL": url,
        "DATABASE_POOLER": pooler,
        "DJANGO_CONN_MAX_AGE": "60",
    }


def run_django(
    url: str, *args: str, pooler: str = "", env: dict | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - this interpreter
        [sys.executable, *args],
        env={**django_environment(url, pooler), **(env or {})},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def probe(url: str, pooler: str) -> subprocess.CompletedProcess:
    return run_django(url, "-c", WORKLOAD, "probe", "[]", "[]", "0", "0", pooler=pooler)


def direct_url(database: str) -> str:
    return f"{SERVER}/{database}"


def pooled_url(port: int, database: str) -> str:
    return f"postgres://postgres@127.0.0.1:{port}/{database}"


def admin_console(port: int, command: str) -> list[tuple]:
    with psycopg.connect(pooled_url(port, "pgbouncer"), autocommit=True) as console:
        return console.execute(command, prepare=False).fetchall()


def test_concurrent_charges_and_deposits_through_the_pooler_are_exact(database, pgbouncer):
    users = [f"pgbouncer-{uuid.uuid4().hex[:8]}" for _ in range(ACCOUNTS)]
    orders = [str(uuid.uuid4()) for _ in range(ORDERS)]
    with psycopg.connect(direct_url(database), autocommit=True) as direct:
        for user in users:
            direct.execute(
                "INSERT INTO payments_account (user_id, balance, created_at, updated_at)"
                " VALUES (%s, %s, now(), now())",
                [user, START_BALANCE],
            )
    arguments = [json.dumps(value) for value in (users, orders, THREADS, DEPOSITS_PER_THREAD)]
    url = pooled_url(pgbouncer, database)
    children = [
        subprocess.Popen(  # noqa: S603 - this interpreter
            [sys.executable, "-c", WORKLOAD, "work", *arguments],
            env=django_environment(url, "pgbouncer"),
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    reports = []
    for child in children:
        stdout, stderr = child.communicate(timeout=300)
        assert child.returncode == 0, stderr
        reports.append(json.loads(stdout.strip().splitlines()[-1]))
    assert [failure for report in reports for failure in report["failures"]] == []
    deposits = {user: sum(report["deposited"][user] for report in reports) for user in users}
    assert sum(deposits.values()) > 0

    with psycopg.connect(direct_url(database)) as direct:
        payments = direct.execute(
            "SELECT status, count(*), count(DISTINCT order_id)"
            " FROM payments_payment GROUP BY status"
        ).fetchall()
        assert payments == [("succeeded", ORDERS, ORDERS)]
        for index, user in enumerate(users):
            charged = sum(PRICE for order in orders if uuid.UUID(order).int % ACCOUNTS == index)
            expected = START_BALANCE + deposits[user] * DEPOSIT - charged
            (balance,) = direct.execute(
                "SELECT balance FROM payments_account WHERE user_id = %s", [user]
            ).fetchone()
            assert balance == expected, user
            (ledger,) = direct.execute(
                "SELECT coalesce(sum(e.amount), 0) FROM payments_ledgerentry e"
                " JOIN payments_account a ON a.id = e.account_id WHERE a.user_id = %s",
                [user],
            ).fetchone()
            assert START_BALANCE + ledger == expected, user

    # The pool held at most its server connections for the 24 clients.
    servers = admin_console(pgbouncer, "SHOW SERVERS")
    assert 0 < len(servers) <= SERVER_CONNECTIONS


def test_the_server_time_outs_and_iterator_hold_behind_the_pooler(database, pgbouncer):
    result = probe(pooled_url(pgbouncer, database), "pgbouncer")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["statement_timeout"] == "5s"  # the pooler's connect_query, not the client's
    with psycopg.connect(direct_url(database)) as direct:
        (accounts,) = direct.execute("SELECT count(*) FROM payments_account").fetchone()
    assert answer["streamed"] == accounts  # QuerySet.iterator() without a server-side cursor


def test_without_the_pooler_setting_django_cannot_connect_through_pgbouncer(database, pgbouncer):
    """The setting is what makes it work: Django's default sends the server time-outs as the
    `options` startup parameter, which PgBouncer refuses."""
    result = probe(pooled_url(pgbouncer, database), "")
    assert result.returncode != 0
    assert "unsupported startup parameter: options" in result.stderr


def test_an_unknown_pooler_is_refused_at_start(database):
    result = probe(direct_url(database), "pgbouncr")
    assert result.returncode != 0
    assert 'DATABASE_POOLER must be "" or "pgbouncer"' in result.stderr


def test_publishing_by_the_worker_is_refused_behind_the_pooler(database):
    """Its LISTEN would be taken back by PgBouncer with the session: no wake-up would come."""
    url = direct_url(database)
    worker = {"MESSAGING_PUBLISH_AFTER_COMMIT_BY": "worker"}
    behind = run_django(url, "-c", "import django; django.setup()", pooler="pgbouncer", env=worker)
    assert behind.returncode != 0
    assert "MESSAGING_PUBLISH_AFTER_COMMIT_BY=worker needs LISTEN" in behind.stderr
    assert run_django(url, "-c", "import django; django.setup()", env=worker).returncode == 0
