"""Paying a batch of orders at once: a constant number of statements, duplicates paid once,
and a bad message costing only its own attempt (docs/messaging.md, "Batches")."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from common.messaging import drain
from common.messaging.consumer import process_batch, store_incoming
from common.messaging.envelope import Envelope
from common.messaging.models import InboxMessage, OutboxMessage
from common.messaging.types import in_lock_order
from common.testing.concurrency import run_concurrently
from payments_project.payments import services
from payments_project.payments.models import Account, LedgerEntry, Payment


def order_created(order_id, user_id: str, amount: str, *, message_id=None) -> bytes:
    return Envelope(
        id=message_id or str(uuid.uuid4()),
        type="order.created",
        version=1,
        payload={"order_id": str(order_id), "user_id": user_id, "amount": amount},
        headers={"request_id": f"req-{order_id}"},
    ).to_body()


def store(body: bytes) -> None:
    store_incoming(body=body, message_id_property=None, queue="orders")


class Delivery:
    """What the consumer gets from kombu, as far as process_batch reads it."""

    def __init__(self, body: bytes):
        self.body, self.properties = body, {}
        self.delivery_info = {"routing_key": "orders"}
        self.acked = False

    def ack(self) -> None:
        self.acked = True


TEN = Decimal("10.00")


def users_with_accounts(count: int, balance: str = "100.00") -> list[str]:
    users = [f"batch-{uuid.uuid4()}" for _ in range(count)]
    for user in users:
        services.account_create(user_id=user)
        services.account_deposit(user_id=user, amount=Decimal(balance))
    return users


def results_by_order() -> dict[str, dict]:
    return {
        row.payload["order_id"]: row.payload
        for row in OutboxMessage.objects.filter(type="payment.result")
    }


def statements_to_drain(orders: int) -> int:
    users = users_with_accounts(10)
    for n in range(orders):
        store(order_created(uuid.uuid4(), users[n % 10], "1.00"))
    with CaptureQueriesContext(connection) as statements:
        # One batch (a full one would be followed by a look for more).
        assert drain.drain_inbox(batch_size=orders + 1) == orders
    return len(statements)


@pytest.mark.django_db
def test_the_drain_pays_a_batch_with_as_many_statements_as_one_order():
    ten, hundred = statements_to_drain(10), statements_to_drain(100)

    assert hundred == ten  # constant per batch (the figures: docs/performance.md)
    assert Payment.objects.filter(status="succeeded").count() == 110
    assert InboxMessage.objects.filter(status="done").count() == 110
    assert len(results_by_order()) == 110


@pytest.mark.django_db(transaction=True)
def test_the_consumer_pays_a_batch_on_receipt_with_a_constant_number_of_statements(settings):
    settings.MESSAGING = {**settings.MESSAGING, "HANDLE_ON_RECEIPT": True}
    users = users_with_accounts(10)
    counts = []
    for size in (10, 100):
        deliveries = [
            Delivery(order_created(uuid.uuid4(), users[n % 10], "1.00")) for n in range(size)
        ]
        with CaptureQueriesContext(connection) as statements:
            process_batch(deliveries)
        counts.append(len(statements))
        assert all(delivery.acked for delivery in deliveries)

    assert counts[0] == counts[1]
    assert Payment.objects.filter(status="succeeded").count() == 110
    assert InboxMessage.objects.filter(status="done").count() == 110
    assert LedgerEntry.objects.filter(kind="charge").count() == 110
    assert sum(a.balance for a in Account.objects.filter(user_id__in=users)) == Decimal("890.00")


@pytest.mark.django_db
def test_one_bad_message_in_a_batch_spends_only_its_own_attempt():
    [user] = users_with_accounts(1)
    good = [uuid.uuid4() for _ in range(3)]
    for order_id in good[:2]:
        store(order_created(order_id, user, "10.00"))
    store(order_created(uuid.uuid4(), user, "-5.00", message_id="bad-amount"))
    store(order_created(good[2], user, "10.00"))

    assert drain.drain_inbox() == 3

    assert Account.objects.get(user_id=user).balance == Decimal("70.00")
    assert set(results_by_order()) == {str(order_id) for order_id in good}
    bad = InboxMessage.objects.get(message_id="bad-amount")
    assert (bad.status, bad.attempts) == ("failed", 1)  # parked at once, alone
    assert "amount" in bad.last_error
    done = InboxMessage.objects.exclude(message_id="bad-amount")
    assert [row.attempts for row in done] == [1, 1, 1]


@pytest.mark.django_db
def test_an_order_twice_in_one_batch_and_again_later_is_paid_once():
    [user] = users_with_accounts(1)
    order_id = uuid.uuid4()
    store(order_created(order_id, user, "30.00"))
    store(order_created(order_id, user, "30.00"))  # a copy under another message id
    assert drain.drain_inbox() == 2
    store(order_created(order_id, user, "30.00"))
    assert drain.drain_inbox() == 1

    assert Account.objects.get(user_id=user).balance == Decimal("70.00")
    assert LedgerEntry.objects.filter(kind="charge", reference=str(order_id)).count() == 1
    assert Payment.objects.filter(order_id=order_id).count() == 1
    answers = OutboxMessage.objects.filter(type="payment.result")
    assert [row.payload["status"] for row in answers] == ["succeeded"] * 3  # each answered


@pytest.mark.django_db
@pytest.mark.parametrize("together", [True, False], ids=["same-batch", "later-batch"])
def test_a_repeated_order_with_another_amount_or_user_gets_the_first_outcome(together):
    first_user, other_user = users_with_accounts(2, balance="50.00")
    order_id = uuid.uuid4()
    store(order_created(order_id, first_user, "40.00"))
    if not together:
        drain.drain_inbox()
    store(order_created(order_id, first_user, "45.00"))  # another amount
    store(order_created(order_id, other_user, "40.00"))  # another user
    drain.drain_inbox()

    answers = [row.payload for row in OutboxMessage.objects.filter(type="payment.result")]
    assert len(answers) == 3
    assert all(
        (answer["user_id"], answer["amount"], answer["status"])
        == (first_user, "40.00", "succeeded")
        for answer in answers
    )
    balances = dict(Account.objects.values_list("user_id", "balance"))
    assert (balances[first_user], balances[other_user]) == (Decimal("10.00"), Decimal("50.00"))
    assert Payment.objects.get(order_id=order_id).amount == Decimal("40.00")


@pytest.mark.django_db
def test_a_batch_that_empties_an_account_refuses_the_orders_beyond_it():
    [user] = users_with_accounts(1, balance="50.00")
    orders = [uuid.uuid4() for _ in range(3)]
    for order_id in orders:
        store(order_created(order_id, user, "20.00"))

    assert drain.drain_inbox() == 3

    assert Account.objects.get(user_id=user).balance == Decimal("10.00")
    answers = results_by_order()
    assert [answers[str(order_id)]["status"] for order_id in orders] == [
        "succeeded",
        "succeeded",
        "failed",
    ]
    assert answers[str(orders[2])]["reason"] == "insufficient_funds"
    assert LedgerEntry.objects.filter(kind="charge").count() == 2


@pytest.mark.django_db
def test_each_answer_carries_the_request_id_of_its_order():
    users = users_with_accounts(2)
    orders = [uuid.uuid4(), uuid.uuid4()]
    for order_id, user in zip(orders, users, strict=True):
        store(order_created(order_id, user, "1.00"))

    drain.drain_inbox()

    for row in OutboxMessage.objects.filter(type="payment.result"):
        assert row.headers["request_id"] == f"req-{row.payload['order_id']}"


@pytest.mark.django_db(transaction=True)
def test_batches_racing_over_the_same_accounts_and_orders_wait_instead_of_deadlocking():
    users = users_with_accounts(20, balance="50.00")
    orders = [(uuid.uuid4(), user) for user in users for _ in range(2)]

    def pay(index: int) -> list:
        # Each batch names the same orders and accounts, in another order.
        batch = orders if index % 2 == 0 else orders[::-1]
        with transaction.atomic():
            return services.orders_pay(
                [services.OrderToPay(order_id, user, Decimal("10.00")) for order_id, user in batch]
            )

    outcomes = run_concurrently(pay, 4)  # a deadlock would raise in one of them

    for payments in outcomes:
        assert {p.pk for p in payments} == set(Payment.objects.values_list("pk", flat=True))
    assert Payment.objects.count() == 40
    assert LedgerEntry.objects.filter(kind="charge").count() == 40
    assert set(Account.objects.filter(user_id__in=users).values_list("balance", flat=True)) == {
        Decimal("30.00")
    }
    assert OutboxMessage.objects.filter(type="payment.result").count() == 160  # each answered


@pytest.mark.django_db(transaction=True)
def test_messages_handled_one_by_one_after_a_failed_batch_take_their_locks_in_one_order():
    """The fallback of a failed batch: each message alone, in a savepoint of the batch's
    transaction, so its locks pile up until the commit. In the contract's lock order
    (in_lock_order: user, then order) two consumers doing so wait instead of deadlocking."""
    users = users_with_accounts(12, balance="50.00")
    orders = [(uuid.uuid4(), user) for user in users for _ in range(2)]
    payloads = [{"order_id": str(order_id), "user_id": user} for order_id, user in orders]

    def pay_one_by_one(index: int) -> int:
        received = payloads if index % 2 == 0 else payloads[::-1]
        with transaction.atomic():
            for payload in in_lock_order("order.created", received, lambda payload: payload):
                with transaction.atomic():
                    services.orders_pay(
                        [
                            services.OrderToPay(
                                uuid.UUID(payload["order_id"]), payload["user_id"], TEN
                            )
                        ]
                    )
        return index

    run_concurrently(pay_one_by_one, 4)  # a deadlock would raise in one of them

    assert Payment.objects.count() == 24
    assert LedgerEntry.objects.filter(kind="charge").count() == 24
    balances = set(Account.objects.filter(user_id__in=users).values_list("balance", flat=True))
    assert balances == {Decimal("30.00")}


def test_the_lock_order_sorts_by_user_then_order_and_puts_a_non_object_first():
    payloads = [{"user_id": "b", "order_id": "1"}, "junk", {"user_id": "a", "order_id": "2"}]
    assert in_lock_order("order.created", payloads, lambda payload: payload) == [
        "junk",
        {"user_id": "a", "order_id": "2"},
        {"user_id": "b", "order_id": "1"},
    ]
    # A type without a lock order keeps the order it was given.
    assert in_lock_order("no.such.type", payloads, lambda payload: payload) == payloads


@pytest.mark.django_db(transaction=True)
def test_a_batch_of_one_accounts_orders_debits_it_with_one_update(settings):
    settings.MESSAGING = {**settings.MESSAGING, "HANDLE_ON_RECEIPT": True}
    [user] = users_with_accounts(1)
    deliveries = [Delivery(order_created(uuid.uuid4(), user, "30.00")) for _ in range(4)]

    with CaptureQueriesContext(connection) as statements:
        process_batch(deliveries)

    assert Account.objects.get(user_id=user).balance == Decimal("10.00")  # 3 paid, 1 refused
    assert LedgerEntry.objects.filter(account__user_id=user, kind="charge").count() == 3
    table = Account._meta.db_table
    assert len([q for q in statements if q["sql"].startswith(f'UPDATE "{table}"')]) == 1
