"""Starts a process group with an empty PROMETHEUS_MULTIPROC_DIR, then becomes its command:

    python -m common.observability.launch gunicorn ... | celery ... worker ...

The files of the group's previous run must go before any of its processes records a value
(prometheus_client's multiprocess mode): counters of dead processes would otherwise add up
with the new ones for ever. Emptying it here, before the program starts, works the same
under supervisord, compose and Kubernetes, whatever the program imports first.
"""

import os
import shutil
import sys
from pathlib import Path

# prometheus_client's variable (common/observability/exposition.py reads it too). This
# module imports nothing heavy: it only prepares the directory and execs.
MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def empty_directory(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: python -m common.observability.launch COMMAND [ARG...]")
    if directory := os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        empty_directory(Path(directory))
    os.execvp(argv[0], argv)  # noqa: S606 - becoming the command given is the point


if __name__ == "__main__":
    main(sys.argv[1:])
