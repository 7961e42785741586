"""Figures read from the service's database when Prometheus scrapes: backlogs, orders
waiting, the last audit. The web process's /metrics adds them to the recorded metrics.

Each reader is cheap (it reads the partial or status indexes, never a whole table) and
returns (name, help, value) triples. A scrape never fails because the database does: the
readers are skipped and `shop_database_up` says 0.
"""

import logging
from collections.abc import Callable, Iterable

from django.db import DatabaseError
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

Reading = tuple[str, str, float]
_readers: list[Callable[[], Iterable[Reading]]] = []


def scrape_time_gauges(reader: Callable[[], Iterable[Reading]]):
    """Declares a reader (called from an AppConfig.ready, or as a decorator)."""
    if reader not in _readers:
        _readers.append(reader)
    return reader


class DatabaseGauges:
    """A prometheus_client collector of every declared reader's gauges."""

    def collect(self):
        readings: list[Reading] = []
        up = 1.0
        try:
            for reader in _readers:
                readings.extend(reader())
        except DatabaseError as exc:
            logger.warning("Metrics: the database cannot be read: %s", exc)
            readings, up = [], 0.0
        for name, documentation, value in readings:
            yield GaugeMetricFamily(name, documentation, value=value)
        if _readers:
            yield GaugeMetricFamily(
                "shop_database_up", "1 when the scrape could read the database.", value=up
            )
