"""Handlers of the messages Orders consumes (registered in settings.MESSAGING)."""

from rest_framework import serializers

from common.messaging.events import Event
from common.messaging.payloads import validated_payload
from orders_project.orders.models import Order
from orders_project.orders.services import order_apply_payment_result


class UnknownOrder(LookupError):
    """A result for an order this service does not have: retried, then parked for a look."""


class PaymentResultPayload(serializers.Serializer):
    order_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["succeeded", "failed"])
    reason = serializers.ChoiceField(choices=Order.CancelReason.values, allow_null=True)

    def validate(self, attrs):
        if (attrs["status"] == "failed") != (attrs.get("reason") is not None):
            raise serializers.ValidationError("a failed payment has a reason, a success none")
        return attrs


def handle_payment_result(event: Event) -> None:
    result = validated_payload(PaymentResultPayload, event)
    order = order_apply_payment_result(
        order_id=result["order_id"],
        succeeded=result["status"] == "succeeded",
        reason=result.get("reason") or "",
    )
    if order is None:
        raise UnknownOrder(f"no order {result['order_id']}")
