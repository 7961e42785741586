"""Handlers of the messages Orders consumes (registered by OrdersConfig.ready)."""

from common.contracts import PAYMENT_RESULT
from common.messaging import Event, handles
from orders_project.orders.services import PaymentResult, orders_apply_payment_results


class UnknownOrder(LookupError):
    """A result for an order this service does not have: retried, then parked for a look."""


@handles(PAYMENT_RESULT)
def handle_payment_results(events: list[Event]) -> None:
    """Apply a batch of results at once. A result that does not validate, or names an
    unknown order, fails the batch, which is then handled message by message: only that
    one is parked or retried."""
    results = []
    for event in events:
        result = PAYMENT_RESULT.validated(event)
        results.append(
            PaymentResult(
                order_id=result["order_id"],
                succeeded=result["status"] == "succeeded",
                reason=result.get("reason") or "",
                request_id=event.headers.get("request_id"),
            )
        )
    orders = orders_apply_payment_results(results)
    if unknown := [str(r.order_id) for r, order in zip(results, orders, strict=True) if not order]:
        raise UnknownOrder(f"no order {', '.join(unknown)}")
