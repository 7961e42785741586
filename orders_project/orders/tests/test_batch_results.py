"""Applying a batch of payment results at once: a constant number of statements, one
notification per changed order, and a bad message costing only its own attempt."""

import json
import uuid
from decimal import Decimal

import psycopg
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from common.messaging import drain
from common.messaging.consumer import store_incoming
from common.messaging.envelope import Envelope
from common.messaging.models import InboxMessage
from common.testing.concurrency import run_concurrently
from orders_project.orders import services
from orders_project.orders.live import CHANNEL
from orders_project.orders.models import Order


def new_orders(count: int) -> list[Order]:
    return [
        services.order_create(
            user_id="u-1", amount=Decimal("30.00"), description="x", request_id=f"r-{n}"
        )
        for n in range(count)
    ]


def store_result(order_id, status="succeeded", reason=None, *, message_id=None) -> None:
    body = Envelope(
        id=message_id or str(uuid.uuid4()),
        type="payment.result",
        version=1,
        payload={"order_id": str(order_id), "status": status, "reason": reason},
    ).to_body()
    store_incoming(body=body, message_id_property=None, queue="payment_status")


def statements_to_apply(count: int) -> int:
    for order in new_orders(count):
        store_result(order.id)
    with CaptureQueriesContext(connection) as statements:
        assert drain.drain_inbox(batch_size=count + 1) == count
    return len(statements)


@pytest.mark.django_db
def test_a_batch_of_results_takes_as_many_statements_as_one_result():
    assert statements_to_apply(100) == statements_to_apply(10)
    assert Order.objects.filter(status="FINISHED").count() == 110


@pytest.mark.django_db
def test_a_batch_of_mixed_outcomes_gives_each_order_its_own_with_one_update_per_outcome():
    orders = new_orders(6)
    outcomes = [
        ("succeeded", None),
        ("failed", "insufficient_funds"),
        ("failed", "account_not_found"),
    ] * 2
    for order, (status, reason) in zip(orders, outcomes, strict=True):
        store_result(order.id, status, reason)

    with CaptureQueriesContext(connection) as statements:
        assert drain.drain_inbox() == 6

    saved = {order.id: order for order in Order.objects.all()}
    assert [(saved[order.id].status, saved[order.id].reason) for order in orders] == [
        ("FINISHED", ""),
        ("CANCELLED", "insufficient_funds"),
        ("CANCELLED", "account_not_found"),
    ] * 2
    assert all(saved[order.id].updated_at > order.updated_at for order in orders)
    table = Order._meta.db_table
    updates = [q["sql"] for q in statements if q["sql"].startswith(f'UPDATE "{table}"')]
    assert len(updates) == 3


@pytest.mark.django_db
def test_a_result_for_an_unknown_order_spends_only_its_own_attempt():
    orders = new_orders(3)
    store_result(orders[0].id)
    store_result(uuid.uuid4(), message_id="unknown")
    store_result(orders[1].id, "failed", "insufficient_funds")
    store_result(orders[2].id, "failed", "no-such-reason", message_id="bad-reason")

    assert drain.drain_inbox() == 2

    statuses = dict(Order.objects.values_list("id", "status"))
    assert [statuses[order.id] for order in orders] == ["FINISHED", "CANCELLED", "NEW"]
    unknown = InboxMessage.objects.get(message_id="unknown")
    assert (unknown.status, unknown.attempts) == ("pending", 1)  # retried later
    assert "no order" in unknown.last_error
    bad = InboxMessage.objects.get(message_id="bad-reason")
    assert (bad.status, bad.attempts) == ("failed", 1)  # parked at once


@pytest.mark.django_db
def test_two_results_for_one_order_in_a_batch_apply_the_first():
    [order] = new_orders(1)
    store_result(order.id, "failed", "account_not_found")
    store_result(order.id)

    assert drain.drain_inbox() == 2

    order.refresh_from_db()
    assert (order.status, order.reason) == ("CANCELLED", "account_not_found")


@pytest.mark.django_db(transaction=True)
def test_each_order_a_batch_changes_is_notified_once_at_commit():
    orders = new_orders(3)
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
        autocommit=True,
    ) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        store_result(orders[0].id)
        store_result(orders[1].id, "failed", "insufficient_funds")
        store_result(orders[1].id)  # a repeated result: no change, no notification

        assert drain.drain_inbox() == 3

        notified = [json.loads(n.payload) for n in listener.notifies(timeout=1.0, stop_after=3)]
    assert [(n["order_id"], n["status"]) for n in notified] == [
        (str(orders[0].id), "FINISHED"),
        (str(orders[1].id), "CANCELLED"),
    ]


@pytest.mark.django_db(transaction=True)
def test_batches_of_results_racing_over_the_same_orders_apply_each_once():
    orders = new_orders(30)

    def apply(index: int) -> list:
        # Each batch names the same orders in another order, with another outcome.
        batch = orders if index % 2 == 0 else orders[::-1]
        results = [
            services.PaymentResult(
                order.id, index % 2 == 0, "" if index % 2 == 0 else "insufficient_funds"
            )
            for order in batch
        ]
        with transaction.atomic():
            return services.orders_apply_payment_results(results)

    run_concurrently(apply, 4)  # a deadlock would raise in one of them

    decided = set(Order.objects.values_list("status", flat=True))
    assert len(decided) == 1  # one batch decided every order; the others changed nothing
    assert decided <= {"FINISHED", "CANCELLED"}
