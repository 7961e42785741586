"""The messages Orders and Payments exchange, each declared once: its type, its queue, its
payload's schema, and the function that builds the payload. The producer records an event
with these, the consumer validates with them; docs/messages.md shows an example of each."""

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from rest_framework import serializers

from common.api.fields import MoneyField
from common.messaging import MessageType

# Why Payments refused an order; Orders cancels it with the same reason.
PAYMENT_FAILURE_REASONS = ("insufficient_funds", "account_not_found")
USER_ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"


class OrderCreatedPayload(serializers.Serializer):
    order_id = serializers.UUIDField()
    user_id = serializers.RegexField(USER_ID_PATTERN)
    # The API's own amount rules: > 0, two places, bounded; so no rounding can ever make a
    # balance and its ledger disagree.
    amount = MoneyField()
    created_at = serializers.DateTimeField(required=False)


class PaymentResultPayload(serializers.Serializer):
    order_id = serializers.UUIDField()
    user_id = serializers.RegexField(USER_ID_PATTERN, required=False)
    amount = MoneyField(required=False)
    status = serializers.ChoiceField(choices=["succeeded", "failed"])
    reason = serializers.ChoiceField(choices=PAYMENT_FAILURE_REASONS, allow_null=True)

    def validate(self, attrs):
        if (attrs["status"] == "failed") != (attrs.get("reason") is not None):
            raise serializers.ValidationError("a failed payment has a reason, a success none")
        return attrs


# Orders -> Payments: a NEW order to pay (again for each re-ask: the same payload).
ORDER_CREATED = MessageType(
    "order.created",
    queue="orders",
    payload=OrderCreatedPayload,
    lock_order=("user_id", "order_id"),  # the account, then the order's payment
)
# Payments -> Orders: the order's outcome, the first one for every copy of the order.
PAYMENT_RESULT = MessageType(
    "payment.result",
    queue="payment_status",
    payload=PaymentResultPayload,
    lock_order=("order_id",),  # the order's row
)


def order_created_payload(
    *, order_id: UUID, user_id: str, amount: Decimal, created_at: datetime
) -> dict:
    return {
        "order_id": str(order_id),
        "user_id": user_id,
        "amount": str(amount),
        "created_at": created_at.isoformat(),
    }


def payment_result_payload(
    *, order_id: UUID, user_id: str, amount: Decimal, succeeded: bool, reason: str
) -> dict:
    return {
        "order_id": str(order_id),
        "user_id": user_id,
        "amount": str(amount),
        "status": "succeeded" if succeeded else "failed",
        "reason": reason or None,
    }
