"""Handlers of the messages Payments consumes (registered in settings.MESSAGING)."""

from rest_framework import serializers

from common.api.fields import MoneyField
from common.messaging.events import Event, record_event
from common.messaging.payloads import validated_payload
from payments_project.payments.services import order_pay

PAYMENT_RESULT = "payment.result"


class OrderCreatedPayload(serializers.Serializer):
    order_id = serializers.UUIDField()
    user_id = serializers.RegexField(r"^[A-Za-z0-9._-]{1,64}$")
    # The API's own amount rules: > 0, two places, bounded; so no rounding can ever make a
    # balance and its ledger disagree.
    amount = MoneyField()


def handle_order_created(event: Event) -> None:
    """Pay the order and answer with its outcome, all in the drain's transaction: the
    charge, the outcome, the "payment result" event and the inbox mark commit together."""
    order = validated_payload(OrderCreatedPayload, event)
    payment = order_pay(
        order_id=order["order_id"], user_id=order["user_id"], amount=order["amount"]
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
    )  # with the request id and trace of the order's message (common/messaging/drain.py)
