"""Keeping a process group's metrics directory small.

gunicorn replaces its workers now and then (max_requests), and each worker leaves its files
(counter_<pid>.db, histogram_<pid>.db) behind: their counts must stay in the sums, but a
scrape reads every file, so over weeks the directory, and the cost of a scrape, would grow
without bound. When a worker has exited, its master folds the dead worker's values into one
file per type (counter_dead.db, ...) and deletes the worker's files: the sums are the same,
with two files per type at most for all the dead.

A scrape that reads the directory while a fold runs may see the dead worker's counts twice or
not at all for that one scrape (Prometheus takes a dip for a counter reset): folds are rare
(one per worker replacement) and take a millisecond.
"""

import os
from pathlib import Path

from prometheus_client import multiprocess
from prometheus_client.mmap_dict import MmapedDict

FOLDED_TYPES = ("counter", "histogram")  # added up across processes
FOLDED_INTO = "dead"


def fold_dead_process(directory: str | os.PathLike, pid: int) -> None:
    # A live gauge (the gateway's waiting live-status subscribers, a livesum) counts only
    # processes that run: the dead worker's last value leaves the sum with its file.
    multiprocess.mark_process_dead(pid, str(directory))
    for kind in FOLDED_TYPES:
        dead = Path(directory, f"{kind}_{pid}.db")
        if not dead.exists():
            continue
        folded = MmapedDict(str(Path(directory, f"{kind}_{FOLDED_INTO}.db")))
        try:
            for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(str(dead)):
                folded.write_value(key, folded.read_value(key)[0] + value, timestamp)
        finally:
            folded.close()
        dead.unlink()
