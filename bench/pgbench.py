"""The hardware's reference figure in the same run: pgbench's built-in simple-update
transaction (an UPDATE, a SELECT and an INSERT, committed) against the same PostgreSQL,
on a throwaway database. Every other figure is also given as a ratio to it."""

import re
import subprocess

import psycopg


def simple_update_tps(server_url: str, database: str, *, seconds: int, clients: int = 8) -> dict:
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{database}"')
        connection.execute(f'CREATE DATABASE "{database}"')
    url = f"{server_url}/{database}"
    try:
        _pgbench("-i", "-q", "-s", "10", url)
        output = _pgbench(
            "-b", "simple-update", "-c", str(clients), "-j", "2", "-T", str(seconds), url
        )
    finally:
        with psycopg.connect(f"{server_url}/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    tps = float(re.search(r"tps = ([\d.]+)", output).group(1))
    return {"clients": clients, "seconds": seconds, "tps": round(tps)}


def _pgbench(*args: str) -> str:
    result = subprocess.run(  # noqa: S603
        ["pgbench", *args],  # noqa: S607 - PostgreSQL's client tools on PATH
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pgbench {' '.join(args)}: {result.stderr}")
    return result.stdout
