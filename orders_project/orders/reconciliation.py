"""Reconciliation of orders with Payments' records, without reading Payments' database.

Both sides are streams sorted by order id (Orders' own pages; Payments' internal endpoint,
payments_client). `compare` is a pure merge-join over the two and decides what differs;
`reconcile_payments` feeds it. The rules: a FINISHED order has exactly one charge, of its
amount; a CANCELLED order has none; every charge belongs to a FINISHED order; an order is
not NEW for longer than the deadline.

Anything that changed within the in-flight window is counted as in flight, not compared:
an order paid a moment ago whose result has not arrived, a NEW order the re-ask may still
close, a charge of an order created after Orders' page was read. The window also makes the
two reads, minutes apart on a large shop, consistent: an order settled before it has its
final payment record in Payments whenever Payments is read.
"""

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from orders_project.orders import selectors
from orders_project.orders.models import Order

PAGE_SIZE = 500


@dataclass(frozen=True)
class OrderFact:
    order_id: str  # str(UUID): the key both sides sort by
    status: str
    amount: Decimal
    created_at: datetime
    updated_at: datetime  # the last status change


@dataclass(frozen=True)
class PaymentFact:
    """What Payments knows of one order id: its payment record (if any) and its charges."""

    order_id: str
    status: str | None  # succeeded | failed, None without a payment record
    amount: Decimal | None
    charges: int
    charged: Decimal  # the sum of the charges, positive
    created_at: datetime


@dataclass(frozen=True)
class Difference:
    kind: str
    order_id: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: order {self.order_id}: {self.detail}"


# The kinds of difference; docs/operations.md says what to do about each.
FINISHED_WITHOUT_CHARGE = "finished-without-charge"
FINISHED_CHARGED_MORE_THAN_ONCE = "finished-charged-more-than-once"
FINISHED_CHARGE_AMOUNT_DIFFERS = "finished-charge-amount-differs"
CANCELLED_BUT_CHARGED = "cancelled-but-charged"
CHARGE_WITHOUT_ORDER = "charge-without-order"
STUCK_NEW = "stuck-new"


@dataclass
class Report:
    orders: int = 0
    payments: int = 0
    in_flight: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.differences

    def summary(self) -> str:
        return (
            f"{self.orders} order(s) and {self.payments} payment record(s) compared, "
            f"{self.in_flight} in flight, {len(self.differences)} difference(s)"
        )


def compare(
    *, orders: Iterable[OrderFact], payments: Iterable[PaymentFact], settled_before: datetime
) -> Report:
    """Compare two streams sorted by order id; what changed after `settled_before` is in
    flight. Pure: no database, no network."""
    report = Report()
    for order, payment in _merged(orders, payments):
        report.orders += order is not None
        report.payments += payment is not None
        changed_at = order.updated_at if order is not None else payment.created_at
        if changed_at > settled_before:
            report.in_flight += 1
            continue
        if (difference := _difference(order, payment)) is not None:
            report.differences.append(difference)
    return report


def _difference(order: OrderFact | None, payment: PaymentFact | None) -> Difference | None:
    charges = payment.charges if payment else 0
    charged = payment.charged if payment else Decimal("0.00")
    if order is None:
        # A refused payment of an unknown order moved no money: not a difference.
        if charges:
            return Difference(CHARGE_WITHOUT_ORDER, payment.order_id, _describe(payment))
        return None
    found = (order.order_id, f"{order.status} {order.amount}; Payments: {_describe(payment)}")
    if order.status == Order.Status.NEW:
        return Difference(STUCK_NEW, *found)
    if order.status == Order.Status.CANCELLED:
        return Difference(CANCELLED_BUT_CHARGED, *found) if charges else None
    if charges == 0:
        return Difference(FINISHED_WITHOUT_CHARGE, *found)
    if charges > 1:
        return Difference(FINISHED_CHARGED_MORE_THAN_ONCE, *found)
    if charged != order.amount:
        return Difference(FINISHED_CHARGE_AMOUNT_DIFFERS, *found)
    return None


def _describe(payment: PaymentFact | None) -> str:
    if payment is None:
        return "no payment record, no charge"
    record = f"payment {payment.status} ({payment.amount})" if payment.status else "no payment"
    return f"{record}, {payment.charges} charge(s) of {payment.charged} in total"


def _merged(
    orders: Iterable[OrderFact], payments: Iterable[PaymentFact]
) -> Iterator[tuple[OrderFact | None, PaymentFact | None]]:
    """Pairs by order id from two streams sorted by it (a merge-join in constant memory)."""
    order_stream, payment_stream = _ascending(orders), _ascending(payments)
    order, payment = next(order_stream, None), next(payment_stream, None)
    while order is not None or payment is not None:
        if payment is None or (order is not None and order.order_id < payment.order_id):
            yield order, None
            order = next(order_stream, None)
        elif order is None or payment.order_id < order.order_id:
            yield None, payment
            payment = next(payment_stream, None)
        else:
            yield order, payment
            order, payment = next(order_stream, None), next(payment_stream, None)


def _ascending(facts: Iterable) -> Iterator:
    # A stream out of order would pair the wrong rows and report differences that are not
    # there (or hide real ones): refuse it instead.
    previous = None
    for fact in facts:
        if previous is not None and fact.order_id <= previous:
            raise ValueError(f"order ids not ascending: {fact.order_id} after {previous}")
        previous = fact.order_id
        yield fact


def order_facts(*, page_size: int = PAGE_SIZE) -> Iterator[OrderFact]:
    """Every order, by id, a page at a time."""
    after: uuid.UUID | None = None
    while True:
        page = selectors.orders_after(after=after, limit=page_size)
        for order in page:
            yield OrderFact(
                order_id=str(order.id),
                status=order.status,
                amount=order.amount,
                created_at=order.created_at,
                updated_at=order.updated_at,
            )
        if len(page) < page_size:
            return
        after = page[-1].id


def reconcile_payments(*, payments: Iterable[PaymentFact], in_flight_for: timedelta) -> Report:
    """Compare every order with Payments' records (`payments`, from payments_client)."""
    # Taken before anything is read: whatever changes during the run is then in flight.
    settled_before = timezone.now() - in_flight_for
    return compare(orders=order_facts(), payments=payments, settled_before=settled_before)
