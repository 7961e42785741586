"""Every change to an order goes through these functions, each in one transaction.

Called inside a caller's transaction (an idempotent request, the drain's savepoint for a
message), a function joins it without a savepoint of its own (savepoint=False): its errors
fail the caller's block anyway, and a savepoint would cost two round trips per call.
"""

import logging
import uuid
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from common.messaging.events import record_event
from orders_project.orders.models import Order

logger = logging.getLogger(__name__)

ORDER_CREATED = "order.created"


@transaction.atomic(savepoint=False)
def order_create(*, user_id: str, amount: Decimal, description: str, request_id: str) -> Order:
    """Create a NEW order and its "order created" event, in one transaction (rule 1)."""
    now = timezone.now()
    order = Order.objects.create(
        user_id=user_id, amount=amount, description=description, created_at=now, updated_at=now
    )
    record_event(
        type=ORDER_CREATED,
        payload={
            "order_id": str(order.id),
            "user_id": order.user_id,
            "amount": str(order.amount),
            "created_at": order.created_at.isoformat(),
        },
        headers={"request_id": request_id},
    )
    return order


@transaction.atomic(savepoint=False)
def order_apply_payment_result(
    *, order_id: uuid.UUID, succeeded: bool, reason: str = ""
) -> Order | None:
    """NEW -> FINISHED (paid) or CANCELLED (with the reason); once (rule 7).

    The order row is locked, so two results racing for one order are applied one after
    the other, and the second finds the order no longer NEW: a repeated or late result
    changes nothing (and is logged). None if the order does not exist.
    """
    order = Order.objects.select_for_update().filter(id=order_id).first()
    if order is None:
        return None
    if order.status != Order.Status.NEW:
        logger.info("Ignoring a payment result for order %s: already %s", order.id, order.status)
        return order
    if succeeded:
        order.status, order.reason = Order.Status.FINISHED, ""
    else:
        order.status, order.reason = Order.Status.CANCELLED, reason
    order.updated_at = timezone.now()
    order.save(update_fields=["status", "reason", "updated_at"])
    return order
