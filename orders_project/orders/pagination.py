"""GET /orders paging: `?limit=` and an opaque `?cursor=`, announced in a `Link` header, so
the body stays the plain array of the contract."""

import base64
import binascii
import uuid
from datetime import datetime

from django.utils.http import urlencode
from rest_framework import serializers

from orders_project.orders.models import Order
from orders_project.orders.selectors import Position

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class PageQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)
    cursor = serializers.CharField(required=False, max_length=200)

    def validate_cursor(self, value: str) -> Position:
        try:
            created_at, order_id = base64.urlsafe_b64decode(value.encode()).decode().split("|")
            position = Position(
                created_at=datetime.fromisoformat(created_at), id=uuid.UUID(order_id)
            )
        except (binascii.Error, UnicodeError, ValueError) as exc:
            raise serializers.ValidationError("Not a cursor this API gave out.") from exc
        if position.created_at.tzinfo is None:  # the API only gives out aware times
            raise serializers.ValidationError("Not a cursor this API gave out.")
        return position


def cursor_after(order: Order) -> str:
    raw = f"{order.created_at.isoformat()}|{order.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def next_link(request, *, limit: int, last: Order) -> str:
    query = urlencode({"limit": limit, "cursor": cursor_after(last)})
    return f'<{request.path}?{query}>; rel="next"'
