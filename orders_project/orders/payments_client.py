"""Orders' client of Payments' internal API (GET /internal/payments, docs/payments.md).

Used by the reconciliation only: Orders never reads Payments' database. The endpoint is
not routed by the gateway; it takes the shared INTERNAL_API_TOKEN, as the services' API does.
"""

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

import urllib3
from urllib3.exceptions import HTTPError

from common.api.internal import INTERNAL_TOKEN_HEADER
from orders_project.orders.reconciliation import PAGE_SIZE, PaymentFact

# A page is one indexed query on Payments' side; a slow answer means trouble, not work.
TIMEOUT = urllib3.Timeout(connect=2.0, read=30.0)
# Reads are harmless to repeat: a refused connection or a 502-504 is tried again, briefly.
RETRIES = urllib3.Retry(total=3, backoff_factor=0.5, status_forcelist=[502, 503, 504])


class PaymentsUnavailable(Exception):
    """Payments' internal API could not be read (down, refused the token, answered oddly)."""


def payment_facts(
    *, base_url: str, token: str, page_size: int = PAGE_SIZE
) -> Iterator[PaymentFact]:
    """Every order id Payments has a payment record or a charge for, in order, a page at a
    time."""
    http = urllib3.PoolManager(timeout=TIMEOUT, retries=RETRIES)
    url = f"{base_url.rstrip('/')}/internal/payments"
    after = ""
    while True:
        page = _get_page(http, url, token=token, after=after, limit=page_size)
        for item in page["results"]:
            yield PaymentFact(
                order_id=item["order_id"],
                status=item["status"],
                amount=None if item["amount"] is None else Decimal(item["amount"]),
                charges=item["charges"],
                charged=Decimal(item["charged"]),
                created_at=datetime.fromisoformat(item["created_at"]),
            )
        if not page["next"]:
            return
        after = page["next"]


def _get_page(http: urllib3.PoolManager, url: str, *, token: str, after: str, limit: int) -> dict:
    try:
        response = http.request(
            "GET",
            url,
            fields={"after": after, "limit": str(limit)},
            headers={INTERNAL_TOKEN_HEADER: token, "Accept": "application/json"},
        )
    except HTTPError as exc:
        raise PaymentsUnavailable(f"GET {url}: {exc}") from exc
    if response.status != 200:
        raise PaymentsUnavailable(
            f"GET {url}: HTTP {response.status}: {response.data[:300].decode(errors='replace')}"
        )
    try:
        return response.json()
    except ValueError as exc:
        raise PaymentsUnavailable(f"GET {url}: not JSON: {exc}") from exc
