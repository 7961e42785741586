"""Run the same call from many threads at once, each with its own database connection."""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import connections

T = TypeVar("T")


def run_concurrently(call: Callable[[int], T], count: int) -> list[T]:
    """Start `count` threads, release them together at a barrier, and return their results.

    Each thread gets its own Django connection (connections are per thread) and closes it
    afterwards, so the test database can be flushed and dropped cleanly.
    """
    barrier = threading.Barrier(count)

    def worker(index: int) -> T:
        try:
            barrier.wait(timeout=30)
            return call(index)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(worker, range(count)))
