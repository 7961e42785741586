"""/metrics of the web processes: the process group's recorded metrics, and the gauges read
from the service's database at scrape time (scrape_time.py)."""

import ipaddress

from django.conf import settings
from django.http import HttpResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from common.api.problems import page_not_found
from common.observability.exposition import process_group_registry
from common.observability.scrape_time import DatabaseGauges


def metrics_view(request):
    """Where METRICS_LOOPBACK_ONLY is set (the gateway, the public entry point) a client not
    on this host gets the 404 of any unknown path."""
    if getattr(settings, "METRICS_LOOPBACK_ONLY", False) and not is_loopback(
        request.META.get("REMOTE_ADDR", "")
    ):
        return page_not_found(request)
    scrape_time = CollectorRegistry()
    scrape_time.register(DatabaseGauges())
    body = generate_latest(process_group_registry()) + generate_latest(scrape_time)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
