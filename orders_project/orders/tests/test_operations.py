"""Beside the user API: the OpenAPI document, the admin, and the listing's query plan."""

import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection

from orders_project.orders import selectors, services
from orders_project.orders.models import Order
from orders_project.orders.selectors import Position

pytestmark = pytest.mark.django_db


def test_openapi_schema_is_valid_and_documents_the_orders_api(tmp_path):
    schema_file = tmp_path / "schema.json"
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format=openapi-json",
        f"--file={schema_file}",
    )  # fmt: skip

    paths = json.loads(schema_file.read_text())["paths"]
    assert set(paths) >= {"/orders", "/orders/{order_id}"}
    create = paths["/orders"]["post"]
    assert set(create["responses"]) == {"201", "400", "406", "409", "415", "422", "503"}
    assert {p["name"] for p in create["parameters"]} == {"X-User-Id", "Idempotency-Key"}
    listing = paths["/orders"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"X-User-Id", "limit", "cursor"}
    assert "404" in paths["/orders/{order_id}"]["get"]["responses"]


def test_admin_finds_orders_by_user_and_filters_by_status(admin_client):
    mine = services.order_create(
        user_id="alice", amount=Decimal("5"), description="a", request_id="r"
    )
    services.order_create(user_id="bob", amount=Decimal("6"), description="b", request_id="r")

    found = admin_client.get("/admin/orders/order/", {"q": "alice"}).context["cl"]
    assert [order.pk for order in found.result_list] == [mine.pk]
    by_id = admin_client.get("/admin/orders/order/", {"q": str(mine.pk)}).context["cl"]
    assert by_id.result_count == 1
    new = admin_client.get("/admin/orders/order/", {"status__exact": "NEW"}).context["cl"]
    assert new.result_count == 2
    assert admin_client.get("/admin/messaging/outboxmessage/").status_code == 200
    assert admin_client.get("/admin/messaging/inboxmessage/").status_code == 200


def test_a_page_of_a_user_with_100_000_orders_is_an_index_scan_without_sort():
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO orders_order
                (id, user_id, amount, description, status, reason, created_at, updated_at)
            SELECT gen_random_uuid(), CASE WHEN n % 10 = 0 THEN 'heavy' ELSE 'other-' || n % 97 END,
                   10, 'x', 'NEW', '', now() - n * interval '1 second', now()
            FROM generate_series(1, 110000) AS n
            """
        )
        cursor.execute("ANALYZE orders_order")
    middle = Order.objects.filter(user_id="heavy").order_by("-created_at", "-id")[5000]
    after = Position(created_at=middle.created_at, id=middle.id)
    page = selectors.orders_page_queryset(user_id="heavy", limit=50, after=after)

    plan = page.explain()

    assert Order.objects.filter(user_id="heavy").count() == 11000
    assert len(page) == 50
    assert page[0].created_at <= middle.created_at
    assert "order_user_newest_idx" in plan
    assert "Sort" not in plan
