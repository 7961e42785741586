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


class AccountCreateSerializer(StrictSerializer):
    """POST /accounts takes no fields: the user comes from X-User-Id and every account
    starts at zero. Unknown fields (a "balance", say) are refused."""


class DepositSerializer(StrictSerializer):
    amount = MoneyField()
