from rest_framework import serializers

from common.api.fields import MoneyField, TextField
from common.api.serializers import StrictSerializer
from orders_project.orders.models import Order


class OrderSerializer(serializers.ModelSerializer):
    amount = MoneyField(read_only=True)
    reason = serializers.SerializerMethodField(
        help_text="Why the order was cancelled: insufficient_funds or account_not_found."
    )

    class Meta:
        model = Order
        fields = ["id", "user_id", "amount", "description", "status", "reason"]
        fields += ["created_at", "updated_at"]
        read_only_fields = fields

    def get_reason(self, order: Order) -> str | None:
        return order.reason or None


# A ModelSerializer derives its fields from the model anew for every instance it makes: a
# tenth of a POST /orders' CPU (docs/performance.md, "Web tier"). Its to_representation
# keeps no state between calls, so one instance, its fields bound once, serves every
# response in every thread.
_ORDER_REPRESENTATION = OrderSerializer()


def order_representation(order: Order) -> dict:
    """What OrderSerializer(order).data holds, as a plain dict."""
    return _ORDER_REPRESENTATION.to_representation(order)


class OrderCreateSerializer(StrictSerializer):
    """A new order: its amount and what it is for (no other field)."""

    amount = MoneyField()
    # DRF's CharField also refuses NUL and lone surrogate characters, which PostgreSQL
    # cannot store, and trims surrounding whitespace before the blank check.
    description = TextField(max_length=500, allow_blank=False)
