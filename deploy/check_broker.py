"""Exit 0 when the AMQP broker at the given URL accepts a connection, 2 with advice if not.

Usage: python deploy/check_broker.py amqp://user:password@host:port/vhost
"""

import sys
from urllib.parse import urlsplit

from kombu import Connection


def main(url: str) -> int:
    try:
        with Connection(url, connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:
        where = urlsplit(url)
        print(  # noqa: T201 - a CLI's output
            f"error: cannot reach RabbitMQ at {where.hostname}:{where.port or 5672} ({exc}).\n"
            "Start it (rabbitmq-server -detached) or set BROKER_URL in .env.",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
