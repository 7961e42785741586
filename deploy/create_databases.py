"""Create each service's PostgreSQL role and database if they do not exist yet.

Usage: python deploy/create_databases.py [--admin ADMIN_URL] [--connect-only URL] URL [URL ...]
       (postgres://role:password@host:port/name)

With --admin (a superuser's URL, DATABASE_ADMIN_URL), each URL whose user is not the
admin's gets a role of its own: LOGIN with the URL's password, NOSUPERUSER, NOCREATEDB,
NOCREATEROLE, NOREPLICATION, NOBYPASSRLS; it owns the service's database (and, when that
database was made by an earlier version as another owner, its tables, sequences and views),
and only it and superusers may connect to it (CONNECT is revoked from PUBLIC). Run again, it
brings an existing role back to these attributes and to the URL's password.

A URL whose user is the admin's (or any URL, without --admin) only gets its database
created, by that user, as before: the server's superuser in the tests' settings.

With --connect-only URL (and --admin), the URL's user gets a role with the same attributes
that may CONNECT to the URL's (existing) database and nothing else: no table, sequence or
schema privilege. The gateway's live status LISTENs on Orders' database with it
(ORDERS_NOTIFY_DATABASE_URL): LISTEN needs no privilege, and such a role reads nothing.

Connects to the server's "postgres" maintenance database; exits 2 with a clear message when
the server cannot be reached.
"""

import argparse
import sys
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql

ROLE_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"


def maintenance_url(url: str) -> str:
    return urlsplit(url)._replace(path="/postgres").geturl()


def database_name(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/"))


def create_database(url: str) -> None:
    name = database_name(url)
    with psycopg.connect(maintenance_url(url), autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            return
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        print(f"created database {name}")  # noqa: T201 - a CLI's output


def ensure_role(conn: psycopg.Connection, role: str, password: str | None) -> bool:
    """Create the role, or bring it back to ROLE_ATTRIBUTES and the password; whether it
    existed before."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
    conn.execute(
        sql.SQL("{} ROLE {} WITH {} PASSWORD {}").format(
            sql.SQL("ALTER" if exists else "CREATE"),
            sql.Identifier(role),
            sql.SQL(ROLE_ATTRIBUTES),
            sql.Literal(password),
        )
    )
    return exists is not None


def create_owned_database(admin_url: str, url: str) -> None:
    """The service's role and the database it owns, made by the admin."""
    parts = urlsplit(url)
    role, name = unquote(parts.username or ""), database_name(url)
    password = unquote(parts.password) if parts.password else None
    with psycopg.connect(maintenance_url(admin_url), autocommit=True, connect_timeout=5) as conn:
        exists = ensure_role(conn, role, password)
        if not exists:
            print(f"created role {role}")  # noqa: T201
        owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if owner is None:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(role)
                )
            )
            print(f"created database {name} owned by {role}")  # noqa: T201
        # Only its owner (and superusers) may connect: not the other service's role.
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))
    if owner is not None and owner[0] != role:
        adopt(admin_url, name, role)


def create_connect_only_role(admin_url: str, url: str) -> None:
    """A role that may connect to the URL's database and do nothing there but LISTEN."""
    parts = urlsplit(url)
    role, name = unquote(parts.username or ""), database_name(url)
    password = unquote(parts.password) if parts.password else None
    with psycopg.connect(maintenance_url(admin_url), autocommit=True, connect_timeout=5) as conn:
        exists = ensure_role(conn, role, password)
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(name), sql.Identifier(role)
            )
        )
        if not exists:
            print(f"created role {role}, which may only connect to {name}")  # noqa: T201


def adopt(admin_url: str, name: str, role: str) -> None:
    """A database an earlier version created as the superuser: the role becomes the owner of
    it and of the tables, sequences and views in its public schema (so it can migrate)."""
    database_url = urlsplit(admin_url)._replace(path=f"/{name}").geturl()
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                sql.Identifier(name), sql.Identifier(role)
            )
        )
        relations = conn.execute(
            "SELECT c.relname, c.relkind FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')"
            " AND pg_get_userbyid(c.relowner) <> %s"
            # A sequence owned by a column follows its table.
            " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid"
            " AND d.deptype IN ('a', 'i') AND c.relkind = 'S')",
            [role],
        ).fetchall()
        kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}
        for relation, kind in relations:
            conn.execute(
                sql.SQL("ALTER {} public.{} OWNER TO {}").format(
                    sql.SQL(kinds[kind]), sql.Identifier(relation), sql.Identifier(role)
                )
            )
    print(f"database {name} and its {len(relations)} relation(s) now owned by {role}")  # noqa: T201


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--admin", help="a superuser's URL (DATABASE_ADMIN_URL)")
    parser.add_argument(
        "--connect-only",
        action="append",
        default=[],
        metavar="URL",
        help="a role that may only connect to the URL's database (needs --admin)",
    )
    parser.add_argument("urls", nargs="*")
    args = parser.parse_args(argv)
    if args.connect_only and not args.admin:
        parser.error("--connect-only needs --admin")
    admin_user = unquote(urlsplit(args.admin).username or "") if args.admin else None
    jobs = [(url, False) for url in args.urls] + [(url, True) for url in args.connect_only]
    for url, connect_only in jobs:
        try:
            user = unquote(urlsplit(url).username or "")
            if connect_only:
                create_connect_only_role(args.admin, url)
            elif args.admin and user and user != admin_user:
                create_owned_database(args.admin, url)
            else:
                create_database(url)
        except psycopg.OperationalError as exc:
            host = urlsplit(url).hostname
            print(  # noqa: T201
                f"error: cannot reach PostgreSQL at {host} ({exc}).\n"
                "Start it (pg_ctlcluster --skip-systemctl-redirect <version> main start) or set "
                "the *_DATABASE_URL variables (and DATABASE_ADMIN_URL) in .env.",
                file=sys.stderr,
            )
            return 2
        except psycopg.Error as exc:
            print(  # noqa: T201
                f"error: PostgreSQL refused to set up {url_without_password(url)}: {exc}",
                file=sys.stderr,
            )
            return 2
    return 0


def url_without_password(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
