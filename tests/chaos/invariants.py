"""The promises, as checks over what the clients were told and what the databases hold.

`load_snapshot` reads both services' databases; each `check_*` is a pure function of a
snapshot and the clients' record, returning the violations it found (empty: it holds), so
the checks themselves are unit-tested against states that break them (test_invariants.py).
"""

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import psycopg

from tests.chaos.workload import Operation

TERMINAL = {"FINISHED", "CANCELLED"}
SERVICES = ("orders", "payments")


@dataclass(frozen=True)
class LedgerRow:
    user_id: str
    kind: str  # "deposit" (amount > 0) | "charge" (amount < 0)
    amount: Decimal
    reference: str  # a deposit's Idempotency-Key, a charge's order id


@dataclass(frozen=True)
class OrderRow:
    user_id: str
    amount: Decimal
    status: str
    reason: str


@dataclass
class Messages:
    """One service's outbox and inbox, as the checks need them."""

    outbox_pending: int = 0
    outbox_failed: int = 0
    inbox_pending: int = 0
    inbox_failed_ids: set[str] = field(default_factory=set)
    inbox_rows: int = 0
    inbox_distinct_ids: int = 0


@dataclass
class Snapshot:
    balances: dict[str, Decimal]
    ledger: list[LedgerRow]
    orders: dict[str, OrderRow]
    messages: dict[str, Messages]


def load_snapshot(database_urls: dict[str, str]) -> Snapshot:
    with (
        psycopg.connect(database_urls["payments"]) as payments,
        psycopg.connect(database_urls["orders"]) as orders,
    ):
        balances = dict(payments.execute("SELECT user_id, balance FROM payments_account"))
        ledger = [
            LedgerRow(*row)
            for row in payments.execute(
                "SELECT a.user_id, e.kind, e.amount, e.reference"
                " FROM payments_ledgerentry e JOIN payments_account a ON a.id = e.account_id"
            )
        ]
        order_rows = {
            str(order_id): OrderRow(*rest)
            for order_id, *rest in orders.execute(
                "SELECT id, user_id, amount, status, reason FROM orders_order"
            )
        }
        messages = {"payments": load_messages(payments), "orders": load_messages(orders)}
    return Snapshot(balances, ledger, order_rows, messages)


def load_messages(connection: psycopg.Connection) -> Messages:
    outbox = dict(
        connection.execute("SELECT status, count(*) FROM messaging_outboxmessage GROUP BY status")
    )
    inbox = dict(
        connection.execute("SELECT status, count(*) FROM messaging_inboxmessage GROUP BY status")
    )
    failed = {
        message_id
        for (message_id,) in connection.execute(
            "SELECT message_id FROM messaging_inboxmessage WHERE status = 'failed'"
        )
    }
    rows, distinct = connection.execute(
        "SELECT count(*), count(DISTINCT message_id) FROM messaging_inboxmessage"
    ).fetchone()
    return Messages(
        outbox_pending=outbox.get("pending", 0),
        outbox_failed=outbox.get("failed", 0),
        inbox_pending=inbox.get("pending", 0),
        inbox_failed_ids=failed,
        inbox_rows=rows,
        inbox_distinct_ids=distinct,
    )


def sample_balances(payments_url: str) -> list[str]:
    """I2 while the faults go on: accounts below zero, or apart from their ledger, now.

    One statement reads one snapshot, so a balance and its entries are seen together."""
    with psycopg.connect(payments_url, connect_timeout=2) as connection:
        rows = connection.execute(
            "SELECT a.user_id, a.balance, COALESCE(SUM(e.amount), 0)"
            " FROM payments_account a LEFT JOIN payments_ledgerentry e ON e.account_id = a.id"
            " GROUP BY a.id HAVING a.balance < 0 OR a.balance <> COALESCE(SUM(e.amount), 0)"
        ).fetchall()
    return [f"{user}: balance {balance}, ledger sum {total}" for user, balance, total in rows]


# --- the invariants ------------------------------------------------------------------------


def check_balances(snapshot: Snapshot, operations: Iterable[Operation]) -> list[str]:
    """I1: balance = acknowledged deposits - charges = the ledger sum, for every account."""
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for operation in operations:
        if operation.kind == "deposit" and operation.acknowledged:
            expected[operation.user_id] += operation.amount
    for order in snapshot.orders.values():
        if order.status == "FINISHED":
            expected[order.user_id] -= order.amount
    ledger_sums: dict[str, Decimal] = defaultdict(Decimal)
    for entry in snapshot.ledger:
        ledger_sums[entry.user_id] += entry.amount
    problems = []
    for user_id, balance in sorted(snapshot.balances.items()):
        want, ledger = expected[user_id], ledger_sums[user_id]
        if not balance == want == ledger:
            problems.append(f"{user_id}: balance {balance}, expected {want}, ledger sum {ledger}")
    problems += [
        f"{user_id}: deposits acknowledged but no account"
        for user_id, amount in expected.items()
        if user_id not in snapshot.balances and amount
    ]
    return problems


def check_no_negative_balance(snapshot: Snapshot, sampled: Iterable[str]) -> list[str]:
    """I2: no balance below zero, at the end or in any sample taken during the faults."""
    final = [f"{user}: {balance}" for user, balance in snapshot.balances.items() if balance < 0]
    return final + [f"sampled: {problem}" for problem in sampled]


def check_charges(snapshot: Snapshot) -> list[str]:
    """I3: at most one charge per order; FINISHED has exactly one (of its amount, on its
    user's account), CANCELLED none; no charge for an order that does not exist."""
    charges: dict[str, list[LedgerRow]] = defaultdict(list)
    for entry in snapshot.ledger:
        if entry.kind == "charge":
            charges[entry.reference].append(entry)
    problems = []
    for order_id, order in snapshot.orders.items():
        found = charges.get(order_id, [])
        if len(found) > 1:
            problems.append(f"order {order_id} charged {len(found)} times")
        if order.status == "FINISHED":
            if len(found) != 1:
                problems.append(f"FINISHED order {order_id} has {len(found)} charges")
            elif (found[0].amount, found[0].user_id) != (-order.amount, order.user_id):
                problems.append(f"order {order_id} of {order.amount}: charged {found[0]}")
        if order.status == "CANCELLED" and found:
            problems.append(f"CANCELLED order {order_id} has {len(found)} charge(s)")
    problems += [
        f"charge for unknown order {reference}"
        for reference in charges
        if reference not in snapshot.orders
    ]
    return problems


def check_orders_settled(snapshot: Snapshot, operations: Iterable[Operation]) -> list[str]:
    """I4: every acknowledged order exists and is FINISHED or CANCELLED; every order placed
    got a definite answer; and no order at all (acknowledged or not) is left NEW."""
    problems = [
        f"order {order_id} still {order.status}"
        for order_id, order in snapshot.orders.items()
        if order.status not in TERMINAL
    ]
    for operation in operations:
        if operation.kind != "order":
            continue
        if operation.status is None:
            problems.append(f"order request {operation.key} never answered")
            continue
        if not operation.acknowledged:
            continue
        if operation.response["id"] not in snapshot.orders:
            problems.append(f"acknowledged order {operation.response['id']} does not exist")
    return problems


def check_deposits(
    snapshot: Snapshot, operations: Iterable[Operation], replay_problems: Iterable[str]
) -> list[str]:
    """I5: every acknowledged deposit is in the ledger exactly once, with its amount; no
    other deposit is; every retry with the same key got the first response."""
    applied = Counter()
    amounts = {}
    for entry in snapshot.ledger:
        if entry.kind == "deposit":
            applied[(entry.user_id, entry.reference)] += 1
            amounts[(entry.user_id, entry.reference)] = entry.amount
    problems = []
    acknowledged = set()
    for operation in operations:
        if operation.kind != "deposit":
            continue
        key = (operation.user_id, operation.key)
        if operation.status is None:
            problems.append(f"deposit {operation.key} never answered")
        elif operation.acknowledged:
            acknowledged.add(key)
            if applied[key] != 1:
                problems.append(f"deposit {operation.key} applied {applied[key]} times")
            elif amounts[key] != operation.amount:
                problems.append(f"deposit {operation.key}: {amounts[key]} for {operation.amount}")
    problems += [
        f"deposit {reference} of {user} applied but never acknowledged"
        for (user, reference) in applied
        if (user, reference) not in acknowledged
    ]
    return problems + [f"replay: {problem}" for problem in replay_problems]


def check_messages(snapshot: Snapshot, poison: dict[str, set[str]]) -> list[str]:
    """I6: nothing pending in any outbox or inbox; each message id once in an inbox; failed
    rows are exactly the poison injected on purpose (parked, none dropped)."""
    problems = []
    for service, messages in sorted(snapshot.messages.items()):
        if messages.outbox_pending:
            problems.append(f"{service}: {messages.outbox_pending} outbox row(s) pending")
        if messages.outbox_failed:
            problems.append(f"{service}: {messages.outbox_failed} outbox row(s) failed")
        if messages.inbox_pending:
            problems.append(f"{service}: {messages.inbox_pending} inbox row(s) pending")
        # Holds by the unique index on message_id; checked so that losing the index shows.
        if messages.inbox_rows != messages.inbox_distinct_ids:
            problems.append(f"{service}: a message id is in the inbox more than once")
        expected = poison.get(service, set())
        if unexpected := messages.inbox_failed_ids - expected:
            problems.append(f"{service}: parked as failed: {sorted(unexpected)[:5]}")
        if dropped := expected - messages.inbox_failed_ids:
            problems.append(f"{service}: poison not parked: {sorted(dropped)[:5]}")
    return problems


def check_all(
    snapshot: Snapshot,
    operations: list[Operation],
    *,
    sampled: Iterable[str],
    replay_problems: Iterable[str],
    poison: dict[str, set[str]],
) -> dict[str, list[str]]:
    """Every invariant's violations, by name."""
    return {
        "I1 balances": check_balances(snapshot, operations),
        "I2 never negative": check_no_negative_balance(snapshot, sampled),
        "I3 one charge": check_charges(snapshot),
        "I4 orders settle": check_orders_settled(snapshot, operations),
        "I5 deposits once": check_deposits(snapshot, operations, replay_problems),
        "I6 messages": check_messages(snapshot, poison),
    }
