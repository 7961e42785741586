"""GET /orders paging: `?limit=` and an opaque `?cursor=`, announced in a `Link` header, so
the body stays the plain array of the contract."""

import base64
import binascii
import uuid
from datetime import UTC, datetime

from django.utils.http import urlencode
from rest_framework import serializers

from common.api.fields import QueryIntegerField
from orders_project.orders.models import Order
from orders_project.orders.selectors import Position

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class PageQuerySerializer(serializers.Serializer):
    """The query parameters of GET /orders (CallerAPIView reads them)."""

    limit = QueryIntegerField(
        min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT, help_text="Orders per page."
    )
    cursor = serializers.CharField(
        required=False,
        max_length=200,
        help_text="Where the page starts: from the previous page's `Link` (opaque).",
    )

    def validate_cursor(self, value: str) -> Position:
        try:
            created_at, order_id = base64.urlsafe_b64decode(value.encode()).decode().split("|")
            position = Position(
                created_at=datetime.fromisoformat(created_at), id=uuid.UUID(order_id)
            )
            # The API only gives out aware times, which the database can hold in UTC (a
            # time at the edge of datetime's range overflows there: OverflowError).
            if position.created_at.tzinfo is None:
                raise ValueError("a naive time")
            position.created_at.astimezone(UTC)
        except (binascii.Error, UnicodeError, ValueError, OverflowError) as exc:
            raise serializers.ValidationError("Not a cursor this API gave out.") from exc
        return position


def cursor_after(order: Order) -> str:
    raw = f"{order.created_at.isoformat()}|{order.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def next_link(request, *, limit: int, last: Order) -> str:
    query = urlencode({"limit": limit, "cursor": cursor_after(last)})
    return f'<{request.path}?{query}>; rel="next"'
