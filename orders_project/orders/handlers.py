"""Handlers of the messages Orders consumes (registered in settings.MESSAGING)."""

import uuid

from common.messaging.events import Event
from orders_project.orders.models import Order
from orders_project.orders.services import order_apply_payment_result


class UnknownOrder(LookupError):
    """A result for an order this service never created: retried, then parked for a look."""


def handle_payment_result(event: Event) -> None:
    payload = event.payload
    succeeded = payload["status"] == "succeeded"
    reason = "" if succeeded else payload["reason"]
    if not succeeded and reason not in Order.CancelReason.values:
        raise ValueError(f"unknown cancel reason {reason!r}")
    order = order_apply_payment_result(
        order_id=uuid.UUID(payload["order_id"]), succeeded=succeeded, reason=reason
    )
    if order is None:
        raise UnknownOrder(f"no order {payload['order_id']}")
