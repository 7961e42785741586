"""The invariant checks catch what they promise to: each is shown a consistent state (no
violation) and states that break it (named violations). The chaos run relies on them."""

from decimal import Decimal

import pytest

from tests.chaos.invariants import (
    LedgerRow,
    Messages,
    OrderRow,
    Snapshot,
    check_all,
    check_balances,
    check_charges,
    check_deposits,
    check_messages,
    check_no_negative_balance,
    check_orders_settled,
)
from tests.chaos.workload import Operation

D = Decimal


def deposit(user, amount, key, status=200):
    op = Operation("deposit", user, D(amount), key, {"amount": amount})
    op.status, op.response = status, {"user_id": user}
    return op


def order(user, amount, order_id, status=201):
    op = Operation("order", user, D(amount), f"key-{order_id}", {"amount": amount})
    op.status, op.response = status, {"id": order_id}
    return op


@pytest.fixture
def consistent():
    """Alice deposited 100 and paid order o1 (30); o2 (500) was cancelled."""
    snapshot = Snapshot(
        balances={"alice": D("70")},
        ledger=[
            LedgerRow("alice", "deposit", D("100"), "k1"),
            LedgerRow("alice", "charge", D("-30"), "o1"),
        ],
        orders={
            "o1": OrderRow("alice", D("30"), "FINISHED", ""),
            "o2": OrderRow("alice", D("500"), "CANCELLED", "insufficient_funds"),
        },
        messages={"orders": Messages(), "payments": Messages()},
    )
    operations = [
        deposit("alice", "100", "k1"),
        order("alice", "30", "o1"),
        order("alice", "500", "o2"),
    ]
    return snapshot, operations


def test_a_consistent_state_violates_nothing(consistent):
    snapshot, operations = consistent
    violations = check_all(snapshot, operations, sampled=[], replay_problems=[], poison={})
    assert all(problems == [] for problems in violations.values())
    assert len(violations) == 6


def test_i1_a_balance_apart_from_deposits_minus_charges_or_the_ledger(consistent):
    snapshot, operations = consistent
    snapshot.balances["alice"] = D("100")
    assert check_balances(snapshot, operations) == [
        "alice: balance 100, expected 70, ledger sum 70"
    ]
    snapshot.balances["alice"] = D("70")
    snapshot.ledger.append(LedgerRow("alice", "deposit", D("5"), "unacknowledged"))
    assert check_balances(snapshot, operations) == ["alice: balance 70, expected 70, ledger sum 75"]


def test_i2_a_negative_balance_now_or_sampled(consistent):
    snapshot, _ = consistent
    assert check_no_negative_balance(snapshot, ["bob: balance -1"]) == ["sampled: bob: balance -1"]
    snapshot.balances["alice"] = D("-0.01")
    assert check_no_negative_balance(snapshot, []) == ["alice: -0.01"]


def test_i3_double_missing_wrong_and_orphan_charges(consistent):
    snapshot, _ = consistent
    snapshot.ledger.append(LedgerRow("alice", "charge", D("-30"), "o1"))
    assert "order o1 charged 2 times" in check_charges(snapshot)

    snapshot.ledger[2] = LedgerRow("alice", "charge", D("-500"), "o2")
    assert check_charges(snapshot) == ["CANCELLED order o2 has 1 charge(s)"]

    snapshot.ledger[2] = LedgerRow("alice", "charge", D("-1"), "o9")
    assert check_charges(snapshot) == ["charge for unknown order o9"]

    snapshot.ledger[1:] = [LedgerRow("alice", "charge", D("-3"), "o1")]
    assert check_charges(snapshot) == [
        "order o1 of 30: charged LedgerRow(user_id='alice', kind='charge', "
        "amount=Decimal('-3'), reference='o1')"
    ]
    snapshot.ledger[1:] = []
    assert check_charges(snapshot) == ["FINISHED order o1 has 0 charges"]


def test_i4_acknowledged_orders_missing_unfinished_or_unanswered(consistent):
    snapshot, operations = consistent
    snapshot.orders["o1"] = OrderRow("alice", D("30"), "NEW", "")
    del snapshot.orders["o2"]
    unanswered = order("alice", "1", "o3")
    unanswered.status = None
    snapshot.orders["o9"] = OrderRow("alice", D("5"), "NEW", "")  # placed, never acknowledged
    assert check_orders_settled(snapshot, [*operations, unanswered]) == [
        "order o1 still NEW",
        "order o9 still NEW",
        "acknowledged order o2 does not exist",
        "order request key-o3 never answered",
    ]


def test_i5_deposits_twice_lost_unacknowledged_or_replayed_differently(consistent):
    snapshot, operations = consistent
    snapshot.ledger.append(LedgerRow("alice", "deposit", D("100"), "k1"))
    snapshot.ledger.append(LedgerRow("alice", "deposit", D("7"), "k-refused"))
    refused = deposit("alice", "7", "k-refused", status=404)
    lost = deposit("alice", "9", "k-lost")
    problems = check_deposits(snapshot, [*operations, refused, lost], ["k1 differs"])
    assert problems == [
        "deposit k1 applied 2 times",
        "deposit k-lost applied 0 times",
        "deposit k-refused of alice applied but never acknowledged",
        "replay: k1 differs",
    ]


def test_i6_pending_duplicated_unexpectedly_parked_or_dropped_messages(consistent):
    snapshot, _ = consistent
    snapshot.messages["orders"] = Messages(
        outbox_pending=2, inbox_failed_ids={"m1"}, inbox_rows=3, inbox_distinct_ids=2
    )
    snapshot.messages["payments"] = Messages(inbox_pending=1, outbox_failed=1)
    assert check_messages(snapshot, {"payments": {"poison-1"}}) == [
        "orders: 2 outbox row(s) pending",
        "orders: a message id is in the inbox more than once",
        "orders: parked as failed: ['m1']",
        "payments: 1 outbox row(s) failed",
        "payments: 1 inbox row(s) pending",
        "payments: poison not parked: ['poison-1']",
    ]
    snapshot.messages["payments"] = Messages(inbox_failed_ids={"poison-1"})
    assert check_messages(snapshot, {"payments": {"poison-1"}})[-1].startswith("orders:")
