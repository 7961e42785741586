"""Applying payment results from the inbox (rule 7: an order leaves NEW once)."""

import uuid
from decimal import Decimal

import pytest

from common.messaging import drain
from common.messaging.consumer import store_incoming
from common.messaging.envelope import Envelope
from common.messaging.models import InboxMessage
from orders_project.orders import services
from orders_project.orders.models import Order

pytestmark = pytest.mark.django_db


def new_order() -> Order:
    return services.order_create(
        user_id="u-1", amount=Decimal("30.00"), description="x", request_id="r"
    )


def deliver_result(order_id, status="succeeded", reason=None, *, message_id=None) -> None:
    body = Envelope(
        id=message_id or str(uuid.uuid4()),
        type="payment.result",
        version=1,
        payload={"order_id": str(order_id), "status": status, "reason": reason},
    ).to_body()
    store_incoming(body=body, message_id_property=None, queue="payment_status")
    drain.drain_inbox()


def test_a_successful_payment_finishes_the_order():
    order = new_order()

    deliver_result(order.id)

    order.refresh_from_db()
    assert (order.status, order.reason) == ("FINISHED", "")
    assert order.updated_at > order.created_at


@pytest.mark.parametrize("reason", ["insufficient_funds", "account_not_found"])
def test_a_failed_payment_cancels_the_order_with_the_reason(reason):
    order = new_order()

    deliver_result(order.id, "failed", reason)

    order.refresh_from_db()
    assert (order.status, order.reason) == ("CANCELLED", reason)


def test_a_result_delivered_twice_changes_nothing_the_second_time():
    order = new_order()
    deliver_result(order.id, message_id="same")
    order.refresh_from_db()
    finished_at = order.updated_at

    deliver_result(order.id, message_id="same")
    deliver_result(order.id)  # and once more under a new message id

    order.refresh_from_db()
    assert (order.status, order.updated_at) == ("FINISHED", finished_at)


def test_a_late_contrary_result_after_the_order_is_terminal_changes_nothing():
    order = new_order()
    deliver_result(order.id, "failed", "insufficient_funds")

    deliver_result(order.id, "succeeded")

    order.refresh_from_db()
    assert (order.status, order.reason) == ("CANCELLED", "insufficient_funds")
    assert InboxMessage.objects.filter(status="done").count() == 2


def test_a_result_for_an_unknown_order_is_retried_not_dropped():
    deliver_result(uuid.uuid4())

    row = InboxMessage.objects.get()
    assert (row.status, row.attempts) == ("pending", 1)
    assert "UnknownOrder" in row.last_error


@pytest.mark.parametrize(
    ("order_id", "status", "reason"),
    [
        ("not-a-uuid", "succeeded", None),
        (None, "failed", "cosmic_rays"),
        (None, "failed", None),
        (None, "succeeded", "insufficient_funds"),
        (None, "paid", None),
    ],
    ids=["malformed-id", "unknown-reason", "failed-without-reason", "success-with-reason",
         "unknown-status"],
)  # fmt: skip
def test_a_malformed_result_is_parked_at_once_and_changes_nothing(order_id, status, reason):
    order = new_order()

    deliver_result(order_id or order.id, status, reason)

    row = InboxMessage.objects.get()
    assert (row.status, row.attempts) == ("failed", 1)
    assert "invalid payload" in row.last_error
    order.refresh_from_db()
    assert order.status == "NEW"


@pytest.mark.django_db(transaction=True)  # a real rollback: the service has no savepoint
def test_the_order_and_its_event_roll_back_together(monkeypatch):
    from common.messaging.models import OutboxMessage

    def broken_outbox(*args, **kwargs):
        raise RuntimeError("outbox insert failed")

    monkeypatch.setattr(services, "record_event", broken_outbox)

    with pytest.raises(RuntimeError):
        new_order()

    assert not Order.objects.exists()
    assert not OutboxMessage.objects.exists()
