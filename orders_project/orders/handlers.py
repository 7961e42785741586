"""Handlers of the messages Orders consumes (registered by OrdersConfig.ready)."""

from common.contracts import PAYMENT_RESULT
from common.messaging import Event, handles
from orders_project.orders.services import order_apply_payment_result


class UnknownOrder(LookupError):
    """A result for an order this service does not have: retried, then parked for a look."""


@handles(PAYMENT_RESULT)
def handle_payment_result(event: Event) -> None:
    result = PAYMENT_RESULT.validated(event)
    order = order_apply_payment_result(
        order_id=result["order_id"],
        succeeded=result["status"] == "succeeded",
        reason=result.get("reason") or "",
    )
    if order is None:
        raise UnknownOrder(f"no order {result['order_id']}")
