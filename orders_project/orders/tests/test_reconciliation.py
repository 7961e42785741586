"""The reconciliation: each kind of difference, in-flight cases, paging on both sides, and
the command against a stand-in of Payments' internal API (the real one: tests/)."""

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import CommandError, call_command

from orders_project.orders import reconciliation as rec
from orders_project.orders import services, tasks
from orders_project.orders.payments_client import PaymentsUnavailable, payment_facts
from orders_project.orders.reconciliation import OrderFact, PaymentFact

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SETTLED_BEFORE = NOW - timedelta(minutes=10)
LONG_AGO = NOW - timedelta(hours=1)
RECENT = NOW - timedelta(minutes=1)


def order(key: str, status: str, amount="30.00", at=LONG_AGO) -> OrderFact:
    return OrderFact(key, status, Decimal(amount), created_at=at, updated_at=at)


def payment(key: str, status="succeeded", charges=1, charged="30.00", at=LONG_AGO) -> PaymentFact:
    amount = None if status is None else Decimal("30.00")
    return PaymentFact(key, status, amount, charges, Decimal(charged), created_at=at)


def differences(orders, payments) -> list[tuple[str, str]]:
    report = rec.compare(orders=orders, payments=payments, settled_before=SETTLED_BEFORE)
    return [(d.kind, d.order_id) for d in report.differences]


def test_consistent_sides_are_clean():
    orders = [order("a", "FINISHED"), order("b", "CANCELLED"), order("c", "CANCELLED")]
    payments = [payment("a"), payment("b", "failed", charges=0, charged="0.00")]
    # "c": refused before a payment record existed? No record, no charge: nothing to say.
    # "d": a refused payment of an order Orders does not know moved no money.
    payments.append(payment("d", "failed", charges=0, charged="0.00"))

    report = rec.compare(orders=orders, payments=payments, settled_before=SETTLED_BEFORE)

    assert report.clean
    assert (report.orders, report.payments, report.in_flight) == (3, 3, 0)


@pytest.mark.parametrize(
    ("orders", "payments", "kind"),
    [
        ([order("a", "FINISHED")], [], rec.FINISHED_WITHOUT_CHARGE),
        ([order("a", "FINISHED")], [payment("a", "failed", 0, "0.00")],
         rec.FINISHED_WITHOUT_CHARGE),
        ([order("a", "FINISHED")], [payment("a", charges=2, charged="60.00")],
         rec.FINISHED_CHARGED_MORE_THAN_ONCE),
        ([order("a", "FINISHED")], [payment("a", charged="3.00")],
         rec.FINISHED_CHARGE_AMOUNT_DIFFERS),
        ([order("a", "CANCELLED")], [payment("a")], rec.CANCELLED_BUT_CHARGED),
        # A charge for a cancelled order although Payments' own record says refused.
        ([order("a", "CANCELLED")], [payment("a", "failed")], rec.CANCELLED_BUT_CHARGED),
        ([], [payment("a")], rec.CHARGE_WITHOUT_ORDER),
        ([], [payment("a", status=None)], rec.CHARGE_WITHOUT_ORDER),  # no payment record
        ([order("a", "NEW")], [], rec.STUCK_NEW),
        ([order("a", "NEW")], [payment("a")], rec.STUCK_NEW),  # charged, result never applied
    ],
    ids=[
        "finished-no-charge", "finished-payment-refused", "finished-two-charges",
        "finished-other-amount", "cancelled-charged", "charge-for-cancelled-refused-order",
        "charge-without-order", "charge-without-order-or-record", "stuck-new",
        "stuck-new-but-charged",
    ],
)  # fmt: skip
def test_each_kind_of_difference_is_reported(orders, payments, kind):
    assert differences(orders, payments) == [(kind, "a")]


def test_a_difference_says_what_each_side_has():
    report = rec.compare(
        orders=[order("a", "CANCELLED")], payments=[payment("a")], settled_before=SETTLED_BEFORE
    )

    assert str(report.differences[0]) == (
        "cancelled-but-charged: order a: CANCELLED 30.00; Payments: payment succeeded (30.00), "
        "1 charge(s) of 30.00 in total"
    )


def test_what_changed_within_the_window_is_in_flight_not_a_difference():
    orders = [
        order("a", "NEW", at=RECENT),  # the re-ask may still close it
        order("b", "NEW", at=RECENT),  # paid, its result not yet arrived
        order("c", "FINISHED", at=RECENT),  # decided while Payments was being read
    ]
    payments = [payment("b"), payment("d", at=RECENT)]  # "d": placed after Orders was read

    report = rec.compare(orders=orders, payments=payments, settled_before=SETTLED_BEFORE)

    assert report.clean
    assert report.in_flight == 4


def test_many_orders_mixed_report_each_difference_once_in_order_of_id():
    orders = [order(f"o{n:02}", "FINISHED") for n in range(20)]
    payments = [payment(f"o{n:02}") for n in range(20) if n != 7]
    payments.insert(10, payment("o10x"))  # a charge between two orders, for no order

    assert differences(orders, payments) == [
        (rec.FINISHED_WITHOUT_CHARGE, "o07"),
        (rec.CHARGE_WITHOUT_ORDER, "o10x"),
    ]


def test_a_stream_out_of_order_is_refused_rather_than_misread():
    with pytest.raises(ValueError, match="not ascending"):
        differences([order("b", "FINISHED"), order("a", "FINISHED")], [])


@pytest.mark.django_db
def test_order_facts_pages_through_every_order_in_order_of_id():
    for n in range(5):
        services.order_create(
            user_id=f"u-{n}", amount=Decimal("1.00"), description="x", request_id="r"
        )

    facts = list(rec.order_facts(page_size=2))

    assert len(facts) == 5
    assert [f.order_id for f in facts] == sorted(f.order_id for f in facts)
    assert {f.status for f in facts} == {"NEW"}


class StandInPayments(BaseHTTPRequestHandler):
    """Payments' internal API as a stand-in: serves `server.items` in pages."""

    def do_GET(self):
        url = urlsplit(self.path)
        parsed = parse_qs(url.query, keep_blank_values=True)
        query = {name: values[0] for name, values in parsed.items()}
        self.server.seen.append((url.path, query, self.headers.get("X-Internal-Token")))
        after, limit = query.get("after", ""), int(query["limit"])
        page = [item for item in self.server.items if item["order_id"] > after][:limit]
        body = {"results": page, "next": page[-1]["order_id"] if len(page) == limit else None}
        payload = json.dumps(body).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def stand_in(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInPayments)
    server.items, server.seen, server.status = [], [], 200
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.PAYMENTS_URL = f"http://127.0.0.1:{server.server_address[1]}"
    settings.INTERNAL_API_TOKEN = "internal-token"
    yield server
    server.shutdown()
    server.server_close()


def item(order_id: str, charged="30.00", at=LONG_AGO) -> dict:
    return {
        "order_id": order_id, "status": "succeeded", "reason": "", "amount": "30.00",
        "charges": 1, "charged": charged, "created_at": at.isoformat(),
    }  # fmt: skip


def test_the_client_pages_through_payments_with_the_internal_token(stand_in, settings):
    stand_in.items = [item(str(uuid.UUID(int=n))) for n in range(5)]

    facts = list(payment_facts(base_url=settings.PAYMENTS_URL, token="internal-token", page_size=2))

    assert [f.order_id for f in facts] == [i["order_id"] for i in stand_in.items]
    assert facts[0].charged == Decimal("30.00")
    assert facts[0].created_at == LONG_AGO
    assert [query["after"] for _, query, _ in stand_in.seen] == [
        "", stand_in.items[1]["order_id"], stand_in.items[3]["order_id"]
    ]  # fmt: skip
    assert {(path, token) for path, _, token in stand_in.seen} == {
        ("/internal/payments", "internal-token")
    }


def test_payments_refusing_or_unreachable_is_an_error_not_a_clean_report(stand_in, settings):
    stand_in.status = 403
    with pytest.raises(PaymentsUnavailable, match="HTTP 403"):
        list(payment_facts(base_url=settings.PAYMENTS_URL, token="wrong"))
    with pytest.raises(PaymentsUnavailable):
        list(payment_facts(base_url="http://127.0.0.1:9", token="t"))  # nothing listens


@pytest.mark.django_db
def test_the_command_reports_differences_and_exits_non_zero(stand_in, capsys):
    paid = services.order_create(user_id="u", amount=Decimal("30.00"), description="x",
                                 request_id="r")  # fmt: skip
    stand_in.items = [item(str(paid.id), charged="31.00")]

    with pytest.raises(CommandError, match="1 difference"):
        call_command("reconcile_payments", "--in-flight-seconds", "0")
    # Its order is still NEW (0 s in flight: compared at once): stuck, and Payments charged.
    assert f"stuck-new: order {paid.id}" in capsys.readouterr().err

    services.order_apply_payment_result(order_id=paid.id, succeeded=True)
    with pytest.raises(CommandError):
        call_command("reconcile_payments", "--in-flight-seconds", "0")
    assert "finished-charge-amount-differs" in capsys.readouterr().err

    stand_in.items = [item(str(paid.id))]
    call_command("reconcile_payments", "--in-flight-seconds", "0")
    assert "Reconciliation clean: 1 order(s) and 1 payment record(s)" in capsys.readouterr().out

    # By default what changed within ORDERS_STUCK_AFTER_SECONDS is in flight.
    stand_in.items = []
    call_command("reconcile_payments")
    assert "1 in flight, 0 difference(s)" in capsys.readouterr().out


@pytest.mark.django_db
def test_the_daily_task_logs_the_result(stand_in, caplog, settings):
    settings.ORDERS_STUCK_AFTER_SECONDS = 0
    stand_in.items = [item(str(uuid.uuid4()))]  # a charge of an order Orders does not have

    assert tasks.reconcile_payments() == 1
    [record] = [r for r in caplog.records if r.name == "orders_project.orders.tasks"]
    assert record.levelname == "ERROR"
    assert "charge-without-order" in record.getMessage()

    stand_in.status = 503
    with pytest.raises(PaymentsUnavailable):
        tasks.reconcile_payments()
    assert "not done" in caplog.records[-1].getMessage()
