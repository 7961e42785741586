"""Paying orders from the inbox: the charge, its outcome, duplicates and races (rule 4)."""

import uuid
from decimal import Decimal

import pytest
from django.core.management import call_command

from common.messaging import drain
from common.messaging.consumer import store_incoming
from common.messaging.envelope import Envelope
from common.messaging.models import InboxMessage, OutboxMessage
from common.observability.traceparent import parse_traceparent
from common.testing.concurrency import run_concurrently
from payments_project.payments import services
from payments_project.payments.models import Account, LedgerEntry, Payment

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
ORDERS_SPAN = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def assert_same_request_and_trace(headers: dict) -> None:
    """The result goes on with the order's request id, in the order's trace."""
    assert headers["request_id"] == "req-1"
    result_span = parse_traceparent(headers["traceparent"])
    assert result_span.trace_id == TRACE_ID
    assert result_span.span_id != "00f067aa0ba902b7"


def deliver_order_created(order_id, user_id: str, amount: str, *, message_id=None) -> None:
    """What the consumer does with an "order created" message from the orders queue."""
    body = Envelope(
        id=message_id or str(uuid.uuid4()),
        type="order.created",
        version=1,
        payload={"order_id": str(order_id), "user_id": user_id, "amount": amount},
        headers={"request_id": "req-1", "traceparent": ORDERS_SPAN},
    ).to_body()
    store_incoming(body=body, message_id_property=None, queue="orders")


def results() -> list[dict]:
    rows = OutboxMessage.objects.filter(type="payment.result").order_by("created_at")
    return [row.payload for row in rows]


def account_with(user_id: str, balance: str) -> Account:
    services.account_create(user_id=user_id)
    return services.account_deposit(user_id=user_id, amount=Decimal(balance))


@pytest.mark.django_db
def test_an_order_within_the_balance_is_charged_once_and_succeeds(user_id):
    account_with(user_id, "100.00")
    order_id = uuid.uuid4()

    deliver_order_created(order_id, user_id, "30.00")
    assert drain.drain_inbox() == 1

    assert Account.objects.get(user_id=user_id).balance == Decimal("70.00")
    charge = LedgerEntry.objects.get(kind="charge")
    assert (charge.amount, charge.reference) == (Decimal("-30.00"), str(order_id))
    assert results() == [
        {
            "order_id": str(order_id),
            "user_id": user_id,
            "amount": "30.00",
            "status": "succeeded",
            "reason": None,
        }
    ]
    result = OutboxMessage.objects.get(type="payment.result")
    assert result.destination == "payment_status"
    assert_same_request_and_trace(result.headers)


@pytest.mark.django_db
def test_an_order_above_the_balance_fails_and_charges_nothing(user_id):
    account_with(user_id, "100.00")

    deliver_order_created(uuid.uuid4(), user_id, "100.01")
    drain.drain_inbox()

    assert Account.objects.get(user_id=user_id).balance == Decimal("100.00")
    assert not LedgerEntry.objects.filter(kind="charge").exists()
    [result] = results()
    assert (result["status"], result["reason"]) == ("failed", "insufficient_funds")


@pytest.mark.django_db
def test_an_order_of_a_user_without_account_fails(user_id):
    deliver_order_created(uuid.uuid4(), user_id, "1.00")
    drain.drain_inbox()

    [result] = results()
    assert (result["status"], result["reason"]) == ("failed", "account_not_found")
    assert Payment.objects.get().reason == "account_not_found"


@pytest.mark.django_db
def test_an_order_delivered_three_times_and_again_under_a_new_id_is_charged_once(user_id):
    account_with(user_id, "100.00")
    order_id = uuid.uuid4()

    for _ in range(3):
        deliver_order_created(order_id, user_id, "30.00", message_id="msg-1")
    deliver_order_created(order_id, user_id, "30.00", message_id="msg-2")
    drain.drain_inbox()

    assert Account.objects.get(user_id=user_id).balance == Decimal("70.00")
    assert LedgerEntry.objects.filter(kind="charge").count() == 1
    # The copy under a new id was handled, and answered with the first outcome.
    assert [r["status"] for r in results()] == ["succeeded", "succeeded"]
    assert {r["order_id"] for r in results()} == {str(order_id)}


@pytest.mark.django_db
def test_a_repeated_order_after_a_refusal_is_refused_again_even_with_money_now(user_id):
    account_with(user_id, "10.00")
    order_id = uuid.uuid4()
    deliver_order_created(order_id, user_id, "50.00", message_id="first")
    drain.drain_inbox()
    services.account_deposit(user_id=user_id, amount=Decimal("100.00"))

    deliver_order_created(order_id, user_id, "50.00", message_id="second")
    drain.drain_inbox()

    assert [r["reason"] for r in results()] == ["insufficient_funds", "insufficient_funds"]
    assert Account.objects.get(user_id=user_id).balance == Decimal("110.00")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload",
    [
        {"order_id": "not-a-uuid", "user_id": "u", "amount": "1.00"},
        {"order_id": str(uuid.uuid4()), "user_id": "u", "amount": "-5"},
        {"order_id": str(uuid.uuid4()), "user_id": "u"},
        {"order_id": str(uuid.uuid4()), "user_id": "u", "amount": "30.005"},
        {"order_id": str(uuid.uuid4()), "user_id": "u", "amount": "1e12"},
        {"order_id": str(uuid.uuid4()), "user_id": "a b", "amount": "1.00"},
    ],
    ids=["bad-order-id", "negative-amount", "no-amount", "three-places", "huge", "bad-user"],
)
def test_an_order_message_with_a_bad_payload_is_parked_and_charges_nothing(payload):
    account_with("u", "100.00")
    body = Envelope(id="bad", type="order.created", version=1, payload=payload).to_body()
    store_incoming(body=body, message_id_property=None, queue="orders")

    drain.drain_inbox()

    assert InboxMessage.objects.get(message_id="bad").status == "failed"  # at once
    assert Account.objects.get(user_id="u").balance == Decimal("100.00")
    assert not Payment.objects.exists()
    assert not results()


@pytest.mark.django_db(transaction=True)
def test_twenty_orders_of_ten_racing_for_170_pay_exactly_seventeen(user_id):
    account_with(user_id, "170.00")
    for _ in range(20):
        deliver_order_created(uuid.uuid4(), user_id, "10.00")

    # Four drains at once, each claiming one message at a time from the same inbox.
    handled = run_concurrently(lambda _: drain.drain_inbox(batch_size=5), 4)

    assert sum(handled) == 20
    outcomes = sorted((r["status"], r["reason"]) for r in results())
    assert outcomes == [("failed", "insufficient_funds")] * 3 + [("succeeded", None)] * 17
    assert Account.objects.get(user_id=user_id).balance == Decimal("0.00")
    call_command("audit_ledger")  # raises CommandError if any balance != its ledger


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("has_account", [True, False], ids=["with-account", "without-account"])
def test_concurrent_copies_of_one_order_are_decided_once(user_id, has_account):
    if has_account:
        account_with(user_id, "100.00")
    order_id = uuid.uuid4()

    def pay(_):
        return services.order_pay(order_id=order_id, user_id=user_id, amount=Decimal("30.00"))

    payments = run_concurrently(pay, 8)  # none fails on the unique constraint

    assert {p.pk for p in payments} == {Payment.objects.get().pk}
    if has_account:
        assert Account.objects.get(user_id=user_id).balance == Decimal("70.00")
    else:
        assert {p.reason for p in payments} == {"account_not_found"}


@pytest.mark.django_db
def test_an_unknown_version_of_order_created_is_parked_at_once(user_id):
    account_with(user_id, "100.00")
    body = Envelope(
        id="v2",
        type="order.created",
        version=2,
        payload={"order_id": str(uuid.uuid4()), "user_id": user_id, "amount": "1.00"},
    ).to_body()
    store_incoming(body=body, message_id_property=None, queue="orders")

    drain.drain_inbox()

    row = InboxMessage.objects.get()
    assert row.status == "failed"
    assert "unsupported version 2" in row.last_error
    assert not Payment.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("balance", "outcome"),
    [("100.00", ("succeeded", None)), ("10.00", ("failed", "insufficient_funds")),
     (None, ("failed", "account_not_found"))],
    ids=["paid", "refused", "no-account"],
)  # fmt: skip
def test_a_reasked_order_is_answered_from_its_payment_record(user_id, balance, outcome):
    """Orders asks again about an order NEW for too long: the same payload under a new
    message id (orders.services.orders_reask_stale). The answer is the first outcome, with
    the request id of the order, and nothing is charged again, even if the account changed."""
    if balance is not None:
        account_with(user_id, balance)
    order_id = uuid.uuid4()
    deliver_order_created(order_id, user_id, "30.00", message_id="first")
    drain.drain_inbox()
    if balance is None:
        account_with(user_id, "100.00")  # an account opened meanwhile changes nothing
    balance_before = Account.objects.get(user_id=user_id).balance

    deliver_order_created(order_id, user_id, "30.00", message_id="reask-1")
    assert drain.drain_inbox() == 1

    first, again = OutboxMessage.objects.filter(type="payment.result").order_by("created_at")
    assert again.payload == first.payload
    assert (again.payload["status"], again.payload["reason"]) == outcome
    assert_same_request_and_trace(again.headers)
    assert Account.objects.get(user_id=user_id).balance == balance_before
    assert LedgerEntry.objects.filter(kind="charge").count() == (balance == "100.00")
