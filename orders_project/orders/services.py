"""Every change to an order goes through these functions, each in one transaction.

Called inside a caller's transaction (an idempotent request, the drain's savepoint for a
message), a function joins it without a savepoint of its own (savepoint=False): its errors
fail the caller's block anyway, and a savepoint would cost two round trips per call.
"""

import logging
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from common.contracts import ORDER_CREATED, order_created_payload
from common.db import update_rows
from common.messaging import publishing_together, record_event
from common.observability import context, metrics
from orders_project.orders import selectors
from orders_project.orders.live import order_status_notify, orders_status_notify
from orders_project.orders.models import Order
from orders_project.orders.signals import stuck_orders_reported

logger = logging.getLogger(__name__)


@transaction.atomic(savepoint=False)
def order_create(*, user_id: str, amount: Decimal, description: str, request_id: str) -> Order:
    """Create a NEW order and its "order created" event, in one transaction (rule 1)."""
    now = timezone.now()
    order = Order.objects.create(
        user_id=user_id,
        amount=amount,
        description=description,
        created_at=now,
        updated_at=now,
        request_id=request_id,
    )
    order_status_notify(order)
    record_event(ORDER_CREATED, payload=_order_created(order), headers={"request_id": request_id})
    # DEBUG: the request's access line already has its request id; an INFO line per order
    # costs ~1 % of the CPU per order (docs/performance.md, "the cost of observability").
    logger.debug("Order %s placed: %s for user %s", order.id, amount, user_id)
    transaction.on_commit(metrics.orders_created.inc)
    return order


def _order_created(order: Order) -> dict:
    """The payload of "order created": the same for the first message and every re-ask."""
    return order_created_payload(
        order_id=order.id, user_id=order.user_id, amount=order.amount, created_at=order.created_at
    )


@dataclass(frozen=True)
class PaymentResult:
    """Payments' answer about one order; `request_id` is the order's, for the log lines."""

    order_id: uuid.UUID
    succeeded: bool
    reason: str = ""
    request_id: str | None = None


def order_apply_payment_result(
    *, order_id: uuid.UUID, succeeded: bool, reason: str = ""
) -> Order | None:
    """One result (orders_apply_payment_results for a batch of one)."""
    [order] = orders_apply_payment_results([PaymentResult(order_id, succeeded, reason)])
    return order


@transaction.atomic(savepoint=False)
def orders_apply_payment_results(results: list[PaymentResult]) -> list[Order | None]:
    """NEW -> FINISHED (paid) or CANCELLED (with the reason); once (rule 7). Returns each
    result's order, None for an order that does not exist.

    In a constant number of statements whatever the batch's size: one locking read of its
    orders in primary-key order (two batches racing for the same orders then wait for each
    other instead of deadlocking), one update per outcome of those that change (at most
    three), one notification statement. The rows stay locked until the caller commits, so
    two results racing for one order are applied one after the other, and the second finds
    the order no longer NEW: a repeated or late result (also later in the same batch)
    changes nothing (and is logged).
    """
    orders = {
        order.id: order
        for order in Order.objects.select_for_update()
        .filter(id__in={result.order_id for result in results})
        .order_by("pk")
    }
    changed: dict[uuid.UUID, Order] = {}
    now = timezone.now()
    for result in results:
        order = orders.get(result.order_id)
        if order is None:
            continue
        with context.bound(request_id=result.request_id, order_id=str(order.id)):
            if order.status != Order.Status.NEW:
                logger.info(
                    "Ignoring a payment result for order %s: already %s", order.id, order.status
                )
                continue
            if result.succeeded:
                order.status, order.reason = Order.Status.FINISHED, ""
            else:
                order.status, order.reason = Order.Status.CANCELLED, result.reason
            order.updated_at = now
            changed[order.id] = order
            reason = f" ({order.reason})" if order.reason else ""
            logger.info("Order %s %s%s", order.id, order.status, reason)
    if changed:
        changed_orders = list(changed.values())
        _save_outcomes(changed_orders, now)
        orders_status_notify(changed_orders)
        completed = Counter((order.status, order.reason) for order in changed_orders)
        transaction.on_commit(lambda: _count_completed(completed))
    return [orders.get(result.order_id) for result in results]


def _save_outcomes(orders: list[Order], now: datetime) -> None:
    """One UPDATE per outcome (paid, or refused for one reason): at most three statements,
    however large the batch, each far cheaper than bulk_update()'s CASE per row and field
    (docs/performance.md, "2026-12-03")."""
    by_outcome: dict[tuple[str, str], list[uuid.UUID]] = {}
    for order in orders:
        by_outcome.setdefault((order.status, order.reason), []).append(order.id)
    for (status, reason), ids in by_outcome.items():
        Order.objects.filter(id__in=ids).update(status=status, reason=reason, updated_at=now)


def _count_completed(completed: Counter) -> None:
    for (status, reason), count in completed.items():
        metrics.orders_completed.labels(status, reason).inc(count)


REASK_BATCH_SIZE = 200
# A bound on one sweep's work: after an outage of Payments, thousands of orders fall due at
# once; the rest wait for the next sweep rather than flood the queue in one go.
REASK_MAX_BATCHES = 10


def orders_reask_stale(
    *,
    older_than: timedelta,
    max_interval: timedelta,
    batch_size: int = REASK_BATCH_SIZE,
    now: datetime | None = None,
) -> int:
    """Ask Payments again about orders NEW for longer than `older_than`: record their
    "order created" once more (a new message id, the same payload, the original request id).

    A lost or parked message can then no longer leave an order NEW for ever: Payments
    answers a repeated order from its payment record (the first outcome, never a second
    charge), and Orders applies a result once (rule 7). The wait before the next re-ask of
    an order doubles each time, up to `max_interval`, so an outage of Payments is not
    answered with a flood of copies. Orders are claimed FOR UPDATE SKIP LOCKED, a batch per
    transaction, so two overlapping sweeps never ask about the same order twice.
    Returns the number of orders asked about.
    """
    now = now or timezone.now()
    asked = 0
    for _ in range(REASK_MAX_BATCHES):
        with transaction.atomic(), publishing_together():
            orders = list(
                selectors.orders_due_for_reask(now=now, older_than=older_than)
                .select_for_update(skip_locked=True)
                .order_by("created_at")[:batch_size]
            )
            for order in orders:
                order.reask_count += 1
                order.next_reask_at = now + _reask_wait(order.reask_count, older_than, max_interval)
                record_event(
                    ORDER_CREATED,
                    payload=_order_created(order),
                    headers={"request_id": order.request_id, "reask": str(order.reask_count)},
                )
            update_rows(Order, orders, ["reask_count", "next_reask_at"])
        asked += len(orders)
        if len(orders) < batch_size:
            break
    if asked:
        logger.warning("Asked Payments again about %d order(s) NEW for over %s", asked, older_than)
    return asked


def _reask_wait(count: int, older_than: timedelta, max_interval: timedelta) -> timedelta:
    # In float seconds, bounded: a stuck order is asked about every max_interval for as long
    # as it stays NEW, and 2**count of a timedelta would overflow.
    seconds = older_than.total_seconds() * 2.0 ** min(count, 32)
    return timedelta(seconds=min(seconds, max_interval.total_seconds()))


def orders_report_stuck(
    *, older_than: timedelta, batch_size: int = REASK_BATCH_SIZE, now: datetime | None = None
) -> int:
    """Report orders NEW for longer than the deadline: an ERROR log line once per order.

    Nothing is guessed: Payments may have charged such an order, so it is never cancelled
    here; the re-ask goes on asking, an operator looks (docs/operations.md). Returns the
    number of orders reported now.
    """
    now = now or timezone.now()
    with transaction.atomic():
        orders = list(
            selectors.orders_stuck(now=now, older_than=older_than)
            .filter(stuck_reported_at__isnull=True)
            .select_for_update(skip_locked=True)
            .order_by("created_at")[:batch_size]
        )
        Order.objects.filter(pk__in=[order.pk for order in orders]).update(stuck_reported_at=now)
    for order in orders:
        logger.error(
            "Order %s (user %s, %s) is stuck: NEW since %s, longer than %s, asked about again "
            "%d time(s). Not cancelled (Payments may have charged it): see the runbook in "
            "docs/operations.md",
            order.id, order.user_id, order.amount, order.created_at.isoformat(), older_than,
            order.reask_count,
        )  # fmt: skip
    if orders:
        metrics.orders_stuck.inc(len(orders))
        stuck_orders_reported.send(sender=Order, orders=orders)
    return len(orders)
