"""The saga closes itself: stale NEW orders are asked about again, stuck ones reported."""

import logging
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from common.messaging import drain
from common.messaging.consumer import store_incoming
from common.messaging.envelope import Envelope
from common.messaging.models import InboxMessage, OutboxMessage
from common.testing.concurrency import run_concurrently
from orders_project.celery import app
from orders_project.orders import handlers, services, tasks
from orders_project.orders.models import Order
from orders_project.orders.signals import stuck_orders_reported

pytestmark = pytest.mark.django_db

AGE = timedelta(seconds=30)
DEADLINE = timedelta(minutes=10)


def new_order(user_id="u-1", request_id="req-42") -> Order:
    return services.order_create(
        user_id=user_id, amount=Decimal("30.00"), description="x", request_id=request_id
    )


def reask(at, **kwargs) -> int:
    return services.orders_reask_stale(older_than=AGE, max_interval=DEADLINE, now=at, **kwargs)


def order_created_messages(order: Order) -> list[OutboxMessage]:
    return list(
        OutboxMessage.objects.filter(type="order.created", payload__order_id=str(order.id))
        .order_by("created_at")
    )  # fmt: skip


def deliver_result(order: Order, status="succeeded", reason=None) -> None:
    body = Envelope(
        id=str(uuid.uuid4()),
        type="payment.result",
        version=1,
        payload={"order_id": str(order.id), "status": status, "reason": reason},
    ).to_body()
    store_incoming(body=body, message_id_property=None, queue="payment_status")
    drain.drain_inbox()


def test_an_order_whose_message_was_lost_is_asked_about_again_and_then_finishes():
    order = new_order()
    [first] = order_created_messages(order)
    first.delete()  # lost: say with a broker's disk, after the relay marked it sent

    assert reask(order.created_at + AGE - timedelta(seconds=1)) == 0  # not stale yet
    assert reask(order.created_at + AGE) == 1

    [again] = order_created_messages(order)
    assert again.id != first.id  # a new message: Payments' inbox would absorb the old id
    assert again.payload == first.payload
    assert again.headers == {"request_id": "req-42", "reask": "1"}
    assert again.destination == "orders"
    order.refresh_from_db()
    assert (order.status, order.reask_count) == ("NEW", 1)

    deliver_result(order)  # Payments' answer to the re-ask

    order.refresh_from_db()
    assert order.status == "FINISHED"
    assert reask(order.created_at + DEADLINE * 10) == 0  # a decided order is never asked


def test_a_parked_payment_result_is_healed_by_the_reask(settings, monkeypatch):
    settings.MESSAGING = {**settings.MESSAGING, "MAX_ATTEMPTS": 1}
    order = new_order()

    def broken(results):
        raise RuntimeError("lock timeout")

    monkeypatch.setattr(handlers, "orders_apply_payment_results", broken)
    deliver_result(order, "failed", "insufficient_funds")
    assert InboxMessage.objects.get().status == "failed"  # parked after its attempts
    monkeypatch.undo()
    order.refresh_from_db()
    assert order.status == "NEW"

    assert reask(order.created_at + AGE) == 1
    deliver_result(order, "failed", "insufficient_funds")  # the same outcome, answered again

    order.refresh_from_db()
    assert (order.status, order.reason) == ("CANCELLED", "insufficient_funds")


def test_an_order_is_asked_about_less_and_less_often_up_to_the_deadline():
    order = new_order()
    # 30 s old, then waits of 60, 120, 240, 480 s, then every 600 s (the deadline).
    due = [30, 90, 210, 450, 930, 1530, 2130]

    for count, seconds in enumerate(due, start=1):
        at = order.created_at + timedelta(seconds=seconds)
        assert reask(at - timedelta(seconds=1)) == 0, f"asked again before {seconds} s"
        assert reask(at) == 1, f"not asked again at {seconds} s"
        assert reask(at) == 0  # once per due time, however many sweeps
        order.refresh_from_db()
        assert order.reask_count == count

    assert len(order_created_messages(order)) == 1 + len(due)


def test_an_order_stuck_for_days_is_still_asked_about_once_per_deadline():
    order = new_order()
    Order.objects.filter(pk=order.pk).update(reask_count=1000)
    later = order.created_at + timedelta(days=7)

    assert reask(later) == 1

    order.refresh_from_db()
    assert (order.reask_count, order.next_reask_at) == (1001, later + DEADLINE)


def test_finished_and_cancelled_orders_are_never_asked_about():
    finished, cancelled = new_order(), new_order()
    deliver_result(finished)
    deliver_result(cancelled, "failed", "account_not_found")

    assert reask(timezone.now() + DEADLINE) == 0


def test_many_stale_orders_are_asked_about_in_batches():
    orders = [new_order(user_id=f"u-{n}") for n in range(7)]

    assert reask(timezone.now() + AGE, batch_size=3) == 7

    assert {o.reask_count for o in Order.objects.all()} == {1}
    assert all(len(order_created_messages(order)) == 2 for order in orders)


@pytest.mark.django_db(transaction=True)
def test_two_overlapping_sweeps_ask_about_each_order_once():
    orders = [new_order(user_id=f"u-{n}") for n in range(60)]
    later = timezone.now() + AGE

    asked = run_concurrently(lambda _: reask(later, batch_size=4), 4)

    assert sum(asked) == 60
    assert {o.reask_count for o in Order.objects.all()} == {1}
    assert all(len(order_created_messages(order)) == 2 for order in orders)


def test_an_order_new_past_the_deadline_is_reported_once_and_never_cancelled(caplog):
    stuck, young = new_order(), new_order()
    Order.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - DEADLINE * 2)
    reported = []
    stuck_orders_reported.connect(
        receiver := lambda sender, orders, **kw: reported.extend(orders), weak=False
    )
    try:
        with caplog.at_level(logging.ERROR, logger="orders_project.orders.services"):
            assert services.orders_report_stuck(older_than=DEADLINE) == 1
            assert services.orders_report_stuck(older_than=DEADLINE) == 0  # once per order
    finally:
        stuck_orders_reported.disconnect(receiver)

    [record] = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert str(stuck.id) in record.getMessage()
    assert "stuck" in record.getMessage()
    assert [order.pk for order in reported] == [stuck.pk]
    stuck.refresh_from_db()
    young.refresh_from_db()
    assert (stuck.status, young.status) == ("NEW", "NEW")
    assert stuck.stuck_reported_at is not None
    assert young.stuck_reported_at is None


def test_the_admin_lists_the_stuck_orders(admin_client):
    stuck, _young = new_order(), new_order()
    Order.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - DEADLINE * 2)

    page = admin_client.get("/admin/orders/order/", {"stuck": "yes"})

    assert [order.pk for order in page.context["cl"].result_list] == [stuck.pk]
    assert b"Stuck: NEW for longer than 10 min" in page.content


def test_the_tasks_read_their_ages_from_the_settings(settings):
    settings.ORDERS_REASK_AFTER_SECONDS = 0
    settings.ORDERS_STUCK_AFTER_SECONDS = 0
    order = new_order()

    assert tasks.reask_stale_orders() == 1
    assert tasks.report_stuck_orders() == 1

    order.refresh_from_db()
    assert order.reask_count == 1
    assert order.stuck_reported_at is not None


def test_the_beat_runs_the_shared_sweeps_and_orders_own_tasks():
    app.loader.import_default_modules()  # what a worker does at start: autodiscovery
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}

    assert {"messaging.relay_outbox", "messaging.drain_inbox"} <= scheduled
    assert {"orders.reask_stale_orders", "orders.report_stuck_orders"} <= scheduled
    assert "orders.reconcile_payments" in scheduled
    assert set(app.tasks) >= scheduled
