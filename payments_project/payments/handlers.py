"""Handlers of the messages Payments consumes (registered in settings.MESSAGING)."""

import uuid
from decimal import Decimal

from common.messaging.events import Event, record_event
from payments_project.payments.services import order_pay

PAYMENT_RESULT = "payment.result"


def handle_order_created(event: Event) -> None:
    """Pay the order and answer with its outcome, all in the drain's transaction: the
    charge, the outcome, the "payment result" event and the inbox mark commit together."""
    payload = event.payload
    amount = Decimal(payload["amount"])
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"order {payload['order_id']} has an invalid amount {amount}")
    payment = order_pay(
        order_id=uuid.UUID(payload["order_id"]), user_id=str(payload["user_id"]), amount=amount
    )
    record_event(
        type=PAYMENT_RESULT,
        payload={
            "order_id": str(payment.order_id),
            "user_id": payment.user_id,
            "amount": str(payment.amount),
            "status": payment.status,
            "reason": payment.reason or None,
        },
        headers={"request_id": event.headers.get("request_id", "")},
    )
