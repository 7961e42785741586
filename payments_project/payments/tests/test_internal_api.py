"""GET /internal/payments: what the reconciliation in Orders reads, page by page."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection

from payments_project.payments import selectors, services
from payments_project.payments.models import Account, LedgerEntry

pytestmark = pytest.mark.django_db

URL = "/internal/payments"


def pay(user_id: str, amount: str) -> str:
    order_id = uuid.uuid4()
    services.order_pay(order_id=order_id, user_id=user_id, amount=Decimal(amount))
    return str(order_id)


def every_page(api_client, limit: int) -> list[list[dict]]:
    pages, after = [], ""
    while True:
        response = api_client.get(URL, {"after": after, "limit": limit})
        assert response.status_code == 200, response.content
        pages.append(response.json()["results"])
        after = response.json()["next"]
        if after is None:
            return pages


def test_each_order_id_with_its_payment_and_charges_in_order_of_id(api_client, user_id):
    services.account_create(user_id=user_id)
    services.account_deposit(user_id=user_id, amount=Decimal("50.00"))
    paid = pay(user_id, "30.00")
    refused = pay(user_id, "99.00")
    unknown_user = pay("nobody", "5.00")
    # A charge without a payment record: nothing writes one, the reconciliation must see it.
    stray = str(uuid.uuid4())
    account = Account.objects.get(user_id=user_id)
    LedgerEntry.objects.create(account=account, kind="charge", amount=-5, reference=stray)

    pages = every_page(api_client, limit=2)

    assert [len(page) for page in pages] == [2, 2, 0]
    items = [item for page in pages for item in page]
    assert [item["order_id"] for item in items] == sorted([paid, refused, unknown_user, stray])
    by_id = {item["order_id"]: item for item in items}
    assert by_id[paid] | {"created_at": None} == {
        "order_id": paid, "status": "succeeded", "reason": "", "amount": "30.00",
        "charges": 1, "charged": "30.00", "created_at": None,
    }  # fmt: skip
    assert (by_id[refused]["status"], by_id[refused]["reason"]) == ("failed", "insufficient_funds")
    assert (by_id[refused]["charges"], by_id[refused]["charged"]) == (0, "0.00")
    assert by_id[unknown_user]["reason"] == "account_not_found"
    assert by_id[stray] | {"created_at": None} == {
        "order_id": stray, "status": None, "reason": None, "amount": None,
        "charges": 1, "charged": "5.00", "created_at": None,
    }  # fmt: skip


def test_a_page_never_skips_an_id_that_only_one_side_has(api_client, user_id):
    services.account_create(user_id=user_id)
    services.account_deposit(user_id=user_id, amount=Decimal("1000.00"))
    account = Account.objects.get(user_id=user_id)
    paid = [pay(user_id, "1.00") for _ in range(15)]
    refused = [pay("nobody", "1.00") for _ in range(10)]
    strays = [str(uuid.uuid4()) for _ in range(10)]
    for stray in strays:
        LedgerEntry.objects.create(account=account, kind="charge", amount=-1, reference=stray)

    for limit in (1, 3, 7, 100):
        items = [item["order_id"] for page in every_page(api_client, limit) for item in page]
        assert items == sorted(paid + refused + strays)


def test_each_page_is_two_index_scans_without_a_sort():
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # tables this small: force the choice
    after = str(uuid.uuid4())

    payments_plan = selectors.payments_after(after=after)[:10].explain()
    charges_plan = selectors.charges_by_order_after(after=after)[:10].explain()

    assert "payments_payment_order_id_key" in payments_plan
    assert "ledger_one_charge_per_order" in charges_plan
    assert "Sort" not in payments_plan + charges_plan


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 1001}, {"limit": "x"}])
def test_bad_paging_parameters_are_a_400(api_client, query):
    response = api_client.get(URL, query)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_with_a_token_configured_the_endpoint_needs_it(api_client, settings):
    settings.INTERNAL_API_TOKEN = "s3cret-token"

    assert api_client.get(URL).status_code == 403
    assert api_client.get(URL, headers={"X-Internal-Token": "wrong"}).status_code == 403
    assert api_client.get(URL, headers={"X-Internal-Token": "s3cret-token"}).status_code == 200
