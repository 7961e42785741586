"""Create each service's PostgreSQL database if it does not exist yet.

Usage: python deploy/create_databases.py URL [URL ...]   (postgres://user@host:port/name)
Connects to the server's "postgres" maintenance database; exits 2 with a clear message when
the server cannot be reached.
"""

import sys
from urllib.parse import urlsplit

import psycopg
from psycopg import sql


def create_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    maintenance_url = urlsplit(url)._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance_url, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            return
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        print(f"created database {name}")  # noqa: T201 - a CLI's output


def main(urls: list[str]) -> int:
    for url in urls:
        try:
            create_database(url)
        except psycopg.OperationalError as exc:
            host = urlsplit(url).hostname
            print(  # noqa: T201
                f"error: cannot reach PostgreSQL at {host} ({exc}).\n"
                "Start it (pg_ctlcluster --skip-systemctl-redirect <version> main start) or set "
                "the *_DATABASE_URL variables in .env.",
                file=sys.stderr,
            )
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
