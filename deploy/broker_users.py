"""The RabbitMQ users of a stack: one per process group, each allowed only what it uses.

  orders    Orders' web, worker and beat: publishes `order.created` to its own exchange
            `<prefix>orders.events` (bound to the queue `<prefix>orders`), consumes
            `<prefix>payment_status`, runs its Celery task queue `<prefix>orders.tasks`, its
            remote control (`<prefix>orders.pidbox`) and sends Celery events
  payments  the same for Payments: `<prefix>payments.events` -> `<prefix>payment_status`,
            consumes `<prefix>orders`, `<prefix>payments.tasks`, `<prefix>payments.pidbox`
  flower    reads the Celery events (`<prefix>celeryev`) and inspects Orders' workers

What the broker enforces, and what it cannot, is in docs/security.md ("Least privilege").
Passwords come from ORDERS_BROKER_PASSWORD, PAYMENTS_BROKER_PASSWORD and
FLOWER_BROKER_PASSWORD.

Usage:
  broker_users.py definitions [--prefix P] [--users U] [--vhost V] [--template]  print them
      as RabbitMQ definitions (JSON, for `rabbitmqctl import_definitions` or loading at
      boot); --template: deploy/rabbitmq/definitions.json, compose's
  broker_users.py create BROKER_URL [--prefix P] [--users U]  create or update them with
      rabbitmqctl (the local broker, run as root), in BROKER_URL's vhost
  broker_users.py delete BROKER_URL [--users U]  delete them (rabbitmqctl)
  broker_users.py urls BROKER_URL [--users U]  print `ORDERS_BROKER_URL=...` lines:
      BROKER_URL's server and vhost with each group's user and password

--users U: the users' names start with U (manage_all.sh: "<STACK_NAME>-"; compose: none).
"""

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
from urllib.parse import quote, unquote, urlsplit

GROUPS = ("orders", "payments", "flower")

# What each service publishes to (its events exchange routes to this queue) and consumes.
PUBLISHES_TO = {"orders": "orders", "payments": "payment_status"}
CONSUMES = {"orders": "payment_status", "payments": "orders"}


def _escape(name: str) -> str:
    # A hyphen is literal outside a character class: left as it is, for readable rules.
    return re.escape(name).replace("\\-", "-")


def _alternatives(*patterns: str) -> str:
    return "^(" + "|".join(patterns) + ")$"


def _names(prefix: str, service: str) -> dict[str, str]:
    """Regular expressions of the names a service's processes use, by kind."""
    p = _escape(prefix)
    pidbox = rf"{p}{service}\.pidbox"  # Celery's control_exchange, set to <prefix><service>
    return {
        "events_exchange": rf"{p}{service}\.events",
        "tasks": rf"{p}{service}\.tasks",  # the Celery task queue and its exchange, one name
        "celery_events": rf"{p}celeryev",  # the exchange Celery's events go to
        "control_exchange": pidbox,
        "reply_exchange": rf"reply\.{pidbox}",
        "reply_queues": rf"[^.]+\.reply\.{pidbox}",  # <uuid>.reply.<...>.pidbox
        "node_queues": rf"[^@]+@.+\.{pidbox}",  # <node name>@<host>.<...>.pidbox
    }


def permissions(prefix: str) -> dict[str, dict[str, str]]:
    """group -> {"configure", "write", "read"}: the AMQP 0-9-1 permission regexes.

    RabbitMQ checks `configure` for declaring and deleting a queue or exchange, `write` on
    the exchange for a publish and on the queue for a binding, `read` on the queue for a
    consume (or get, purge) and on the exchange a binding comes from.
    """
    p = _escape(prefix)
    result = {}
    for service in ("orders", "payments"):
        names = _names(prefix, service)
        celery = [names[kind] for kind in names if kind != "events_exchange"]
        own_queue = p + _escape(CONSUMES[service])
        destination = p + _escape(PUBLISHES_TO[service])
        # MESSAGING_QUEUE_TYPE=quorum: the consumer declares its queue's parking queue and
        # exchange (one name), binds them and names the exchange as the queue's dead-letter
        # exchange (which RabbitMQ lets only a user who may write to it do).
        parking = own_queue + r"\.parking"
        result[service] = {
            # The destination too: the publisher declares it (messages wait there until the
            # consumer first runs) and binds it to its events exchange.
            "configure": _alternatives(
                names["events_exchange"], destination, own_queue, parking, *celery
            ),
            "write": _alternatives(names["events_exchange"], destination, parking, *celery),
            "read": _alternatives(
                names["events_exchange"],
                own_queue,
                parking,
                *(
                    names[kind]
                    for kind in names
                    if kind not in ("events_exchange", "celery_events")
                ),
            ),
        }
    orders = _names(prefix, "orders")
    event_queues = rf"{p}celeryev\.[0-9a-f-]+"  # Celery's event_queue_prefix.<uuid>
    result["flower"] = {
        "configure": _alternatives(
            orders["celery_events"], event_queues, orders["control_exchange"],
            orders["reply_exchange"], orders["reply_queues"],
        ),
        "write": _alternatives(event_queues, orders["control_exchange"], orders["reply_queues"]),
        "read": _alternatives(
            orders["celery_events"], event_queues, orders["reply_exchange"], orders["reply_queues"]
        ),
    }  # fmt: skip
    return result


def password_of(group: str) -> str:
    variable = f"{group.upper()}_BROKER_PASSWORD"
    password = os.environ.get(variable, "")
    if not password:
        raise SystemExit(f"error: {variable} is not set")
    return password


def password_hash(password: str) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def definitions(*, prefix: str, users: str, vhost: str, template: bool = False) -> dict:
    """The users and their permissions. A template has `@ORDERS_BROKER_PASSWORD@` (...) for
    each password, which deploy/rabbitmq/entrypoint.sh fills in when RabbitMQ starts."""
    rules = permissions(prefix)
    return {
        "vhosts": [{"name": vhost}],
        "users": [
            {
                "name": users + group,
                **(
                    {"password": f"@{group.upper()}_BROKER_PASSWORD@"}
                    if template
                    else {
                        "password_hash": password_hash(password_of(group)),
                        "hashing_algorithm": "rabbit_password_hashing_sha256",
                    }
                ),
                "tags": [],
            }
            for group in GROUPS
        ],
        "permissions": [
            {"user": users + group, "vhost": vhost, **rules[group]} for group in GROUPS
        ],
    }


def vhost_of(broker_url: str) -> str:
    path = urlsplit(broker_url).path
    # amqp://host:5672// is the vhost "/"; amqp://host:5672 (no path) too.
    return unquote(path[1:]) if len(path) > 1 else "/"


def url_for(broker_url: str, user: str, password: str) -> str:
    parts = urlsplit(broker_url)
    host = parts.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return parts._replace(netloc=netloc).geturl()


def rabbitmqctl(*args: str, stdin: str | None = None, missing_ok: bool = False) -> None:
    result = subprocess.run(  # noqa: S603 - a fixed command
        ["rabbitmqctl", "-q", *args],  # noqa: S607 - found on PATH, as an operator would
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = (result.stderr or result.stdout).strip()
    if result.returncode != 0 and not (missing_ok and "does not exist" in output):
        raise SystemExit(f"error: rabbitmqctl {args[0]}: {output}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["definitions", "create", "delete", "urls"])
    parser.add_argument("broker_url", nargs="?", default="amqp://127.0.0.1:5672//")
    parser.add_argument("--prefix", default="", help="MESSAGING_QUEUE_PREFIX")
    parser.add_argument("--users", default="", help="the start of the users' names")
    parser.add_argument("--vhost", help="default: BROKER_URL's")
    parser.add_argument(
        "--template", action="store_true", help="placeholders for the passwords (compose)"
    )
    args = parser.parse_args(argv)
    vhost = args.vhost or vhost_of(args.broker_url)
    if args.command == "definitions":
        document = definitions(
            prefix=args.prefix, users=args.users, vhost=vhost, template=args.template
        )
        print(json.dumps(document, indent=2))  # noqa: T201
    elif args.command == "create":
        document = definitions(prefix=args.prefix, users=args.users, vhost=vhost)
        # Through stdin: the password hashes never touch a file (and rabbitmqctl, which runs
        # as the rabbitmq user, could not read one only root may read).
        rabbitmqctl("import_definitions", "--format", "json", stdin=json.dumps(document))
    elif args.command == "delete":
        for group in GROUPS:
            rabbitmqctl("delete_user", args.users + group, missing_ok=True)
    else:
        for group in GROUPS:
            url = url_for(args.broker_url, args.users + group, password_of(group))
            print(f"{group.upper()}_BROKER_URL={url}")  # noqa: T201 - its parts are URL-quoted
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
