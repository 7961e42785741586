from rest_framework import serializers

from common.api.fields import MoneyField
from common.api.serializers import StrictSerializer
from payments_project.payments.models import Account


class AccountSerializer(serializers.ModelSerializer):
    balance = MoneyField(read_only=True)

    class Meta:
        model = Account
        fields = ["user_id", "balance", "created_at", "updated_at"]
        read_only_fields = fields


class BalanceSerializer(serializers.ModelSerializer):
    balance = MoneyField(read_only=True)

    class Meta:
        model = Account
        fields = ["user_id", "balance"]
        read_only_fields = fields


# A ModelSerializer derives its fields from the model anew for every instance it makes;
# its to_representation keeps no state between calls, so one instance, its fields bound
# once, serves every balance answer in every thread (docs/performance.md, "Web tier").
_BALANCE_REPRESENTATION = BalanceSerializer()


def balance_representation(account: Account) -> dict:
    """What BalanceSerializer(account).data holds, as a plain dict."""
    return _BALANCE_REPRESENTATION.to_representation(account)


class AccountCreateSerializer(StrictSerializer):
    """POST /accounts takes no fields: the user comes from X-User-Id and every account
    starts at zero. Unknown fields (a "balance", say) are refused."""


class DepositSerializer(StrictSerializer):
    """A deposit: the amount to add to the caller's balance (no other field)."""

    amount = MoneyField()


class OrderPaymentsQuerySerializer(serializers.Serializer):
    """GET /internal/payments: keyset paging by order id (`after`: the last id of a page)."""

    after = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=500)


class OrderPaymentSerializer(serializers.Serializer):
    """One order id: its payment record (null fields without one) and its ledger charges."""

    order_id = serializers.CharField()
    status = serializers.CharField(source="payment.status", default=None, allow_null=True)
    reason = serializers.CharField(source="payment.reason", default=None, allow_null=True)
    amount = MoneyField(source="payment.amount", default=None, allow_null=True)
    charges = serializers.IntegerField(help_text="Ledger charges of this order (at most 1).")
    charged = MoneyField(help_text="Their sum, positive (0.00 without a charge).")
    created_at = serializers.DateTimeField(
        source="first_seen_at", help_text="Of the payment record, else of the first charge."
    )


class OrderPaymentsPageSerializer(serializers.Serializer):
    results = OrderPaymentSerializer(many=True)
    next = serializers.CharField(allow_null=True, help_text="`after` of the next page; null: done.")
