"""Handlers of the messages Payments consumes (registered by PaymentsConfig.ready)."""

from common.contracts import ORDER_CREATED
from common.messaging import Event, handles
from payments_project.payments.services import OrderToPay, orders_pay


@handles(ORDER_CREATED)
def handle_orders_created(events: list[Event]) -> None:
    """Pay a batch of orders at once; their outcomes and "payment result" events are
    recorded by orders_pay, all in the drain's (or the consumer's) transaction with the
    inbox marks. A payload that does not validate fails the batch, which is then handled
    message by message: only that one is parked."""
    orders = []
    for event in events:
        order = ORDER_CREATED.validated(event)
        orders.append(
            OrderToPay(
                order_id=order["order_id"],
                user_id=order["user_id"],
                amount=order["amount"],
                message_headers=event.headers,
            )
        )
    orders_pay(orders)
