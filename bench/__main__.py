"""`python -m bench [--seconds S] [--outbox-rows N] [--inbox-rows N]` (`./manage_all.sh bench`).

Starts a stack of its own (as the end-to-end tests do), measures it (bench/run.py), stops
it, prints the report and writes bench/results/<time>.json, .md and .png (and latest.*).
See docs/performance.md."""

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

import django

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(prog="manage_all.sh bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10, help="per measurement")
    parser.add_argument("--outbox-rows", type=int, default=10_000, help="for the relay rate")
    parser.add_argument("--inbox-rows", type=int, default=2_000, help="for the drain rate")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    from bench import report
    from bench.run import run_all
    from tests.stack import start_stack, stop_stack

    var_dir = Path(tempfile.mkdtemp(prefix="bench-"))
    # A token of its own, given to the stack in its environment (which wins over its env
    # file): else an INTERNAL_API_TOKEN this process inherited (from manage_all.sh, or the
    # repository's .env that Django's settings read) would be the stack's, and not the one
    # `up` writes into the stack's env file.
    # The gateway's rate limits off: the load comes from a few users on one address, far
    # over the per-user default, and the limiter's own cost is not what is measured here.
    stack = start_stack(
        var_dir,
        INTERNAL_API_TOKEN=secrets.token_urlsafe(32),
        GATEWAY_RATE_LIMIT_PER_USER="0",
        GATEWAY_RATE_LIMIT_PER_ADDRESS="0",
        GATEWAY_LIVE_MAX_PER_ADDRESS="0",  # the live stage's 1,000 waits come from one address
    )
    try:
        figures = run_all(
            stack, seconds=args.seconds, outbox_rows=args.outbox_rows, inbox_rows=args.inbox_rows
        )
    finally:
        stop_stack(stack)
    shutil.rmtree(var_dir, ignore_errors=True)

    RESULTS.mkdir(exist_ok=True)
    stamp = figures["machine"]["date"].replace(":", "").replace("+0000", "Z")
    figures["targets"] = report.targets(figures)
    figures["cpu_ms_per_order"] = report.cpu_per_order(figures)
    for name in (stamp, "latest"):  # the figures first, whatever happens to the report
        (RESULTS / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
    text = report.markdown(figures)
    for name in (stamp, "latest"):
        (RESULTS / f"{name}.md").write_text(text)
    written = [".json", ".md"]
    try:
        report.plot(figures, RESULTS / f"{stamp}.png")
        shutil.copyfile(RESULTS / f"{stamp}.png", RESULTS / "latest.png")
        written.append(".png")
    except Exception:  # the figures and the report are written; a plot is a plus
        traceback.print_exc()
        (RESULTS / "latest.png").unlink(missing_ok=True)
    print(text)  # noqa: T201 - the report
    print(f"written: {RESULTS}/{stamp}{', '.join(written)}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
