"""Live order status: tell listeners (the gateway) that an order was created or changed.

`pg_notify` inside the transaction that makes the change: PostgreSQL delivers the
notification when, and only when, that transaction commits (a rollback sends nothing), and
in commit order, so a listener never learns of a status it cannot yet read. It costs one
short statement per change and no broker message. The gateway's listener
(gateway_project/gateway/live/hub.py) fans it out to the clients waiting on the order.

In the embedded mode (SQLite, settings.EMBEDDED_DATABASE) nothing is sent: the gateway re-reads
waiting orders instead.
"""

import json

from django.conf import settings
from django.db import connection

from orders_project.orders.models import Order

CHANNEL = "order_status"


def order_status_notify(order: Order) -> None:
    """Queue a notification of the order's status, delivered when the current
    transaction commits. The payload names the order, its user and its status (well under
    PostgreSQL's 8,000-byte limit); listeners read the order itself through the API."""
    orders_status_notify([order])


def orders_status_notify(orders: list[Order]) -> None:
    """order_status_notify for many orders in one statement (a batch of payment results),
    in the order given."""
    if settings.EMBEDDED_DATABASE or not orders:
        return
    payloads = [
        json.dumps({"order_id": str(order.id), "user_id": order.user_id, "status": order.status})
        for order in orders
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_notify(%s, payload) FROM unnest(%s::text[]) AS payload", [CHANNEL, payloads]
        )
