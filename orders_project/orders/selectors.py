"""Reads of orders."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from orders_project.orders.errors import OrderNotFound
from orders_project.orders.models import Order


@dataclass(frozen=True)
class Position:
    """Where a page ends: the last order shown, in the (created_at, id) order of the list."""

    created_at: datetime
    id: uuid.UUID


def order_get(*, user_id: str, order_id: str) -> Order:
    """The caller's order; 404 alike for a malformed id, an unknown one and another user's
    (no hint that an order exists)."""
    try:
        parsed = uuid.UUID(order_id)
    except ValueError:
        raise OrderNotFound(f"No order {order_id}.") from None
    order = Order.objects.filter(id=parsed, user_id=user_id).first()
    if order is None:
        raise OrderNotFound(f"No order {order_id}.")
    return order


def orders_page(*, user_id: str, limit: int, after: Position | None) -> list[Order]:
    """Up to `limit` of the user's orders, newest first, after `after` (keyset paging)."""
    return list(orders_page_queryset(user_id=user_id, limit=limit, after=after))


def orders_page_queryset(*, user_id: str, limit: int, after: Position | None) -> QuerySet:
    """Walks the index (user_id, created_at DESC, id DESC) from the position on, so page
    1000 costs what page 1 does, however many orders the user has."""
    orders = Order.objects.filter(user_id=user_id)
    if after is not None:
        # created_at <= c bounds the index range; the OR breaks ties on id.
        orders = orders.filter(created_at__lte=after.created_at).filter(
            Q(created_at__lt=after.created_at) | Q(id__lt=after.id)
        )
    return orders.order_by("-created_at", "-id")[:limit]


def orders_stuck(*, now: datetime, older_than: timedelta) -> QuerySet[Order]:
    """Orders NEW for longer than `older_than` (the deadline, or the re-ask age)."""
    return Order.objects.filter(status=Order.Status.NEW, created_at__lte=now - older_than)


def orders_due_for_reask(*, now: datetime, older_than: timedelta) -> QuerySet[Order]:
    """NEW orders older than `older_than` whose next re-ask is due (or never asked about)."""
    return orders_stuck(now=now, older_than=older_than).filter(
        Q(next_reask_at__isnull=True) | Q(next_reask_at__lte=now)
    )


def orders_after(*, after: uuid.UUID | None, limit: int) -> list[Order]:
    """Up to `limit` orders by id, after `after` (keyset paging over the primary key), with
    what the reconciliation compares."""
    orders = Order.objects.only("id", "status", "reason", "amount", "created_at", "updated_at")
    if after is not None:
        orders = orders.filter(id__gt=after)
    return list(orders.order_by("id")[:limit])


def orders_waiting_gauges():
    """Orders NEW (waiting for their payment) and the age of the oldest, as scrape-time
    gauges (common/observability/scrape_time.py), through the (status, created_at) index."""
    waiting = Order.objects.filter(status=Order.Status.NEW).aggregate(
        count=Count("pk"), oldest=Min("created_at")
    )
    oldest = waiting["oldest"]
    yield "shop_orders_new", "Orders waiting for their payment (NEW).", waiting["count"]
    yield (
        "shop_orders_new_oldest_seconds",
        "Age of the oldest NEW order (0 when none).",
        (timezone.now() - oldest).total_seconds() if oldest else 0.0,
    )
