"""The shared serializer instance behind every order in a response (serializers.py) answers
as a new OrderSerializer would, order after order: no state is kept between calls."""

from decimal import Decimal

import pytest

from orders_project.orders.models import Order
from orders_project.orders.serializers import OrderSerializer, order_representation


@pytest.mark.django_db
def test_one_shared_serializer_answers_each_order_as_a_new_one_would(user_id):
    cancelled = Order.objects.create(
        user_id=user_id,
        amount=Decimal("12.30"),
        description="Tea",
        status=Order.Status.CANCELLED,
        reason="insufficient_funds",
    )
    new = Order.objects.create(user_id="another", amount=Decimal("0.01"), description="Gum")

    for order in (cancelled, new, cancelled):
        assert order_representation(order) == OrderSerializer(order).data
    assert order_representation(new)["reason"] is None
    assert order_representation(cancelled)["amount"] == "12.30"
