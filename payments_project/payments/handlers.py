"""Handlers of the messages Payments consumes (registered by PaymentsConfig.ready)."""

from common.contracts import ORDER_CREATED
from common.messaging import Event, handles
from payments_project.payments.services import order_pay


@handles(ORDER_CREATED)
def handle_order_created(event: Event) -> None:
    """Pay the order; its outcome and the "payment result" event are recorded by order_pay,
    all in the drain's transaction with the inbox mark."""
    order = ORDER_CREATED.validated(event)
    order_pay(order_id=order["order_id"], user_id=order["user_id"], amount=order["amount"])
