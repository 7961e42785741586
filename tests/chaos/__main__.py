"""`python -m tests.chaos [--minutes N] [--scale N] [--scenario NAME ...]`, or
`./manage_all.sh chaos` with the same options.

Starts a stack of its own (databases e2e_<run>_*, queues e2e-<run>.*), runs the workload
under each scenario's faults, checks the invariants after each, prints a table per scenario
and a summary, and exits 1 on any violation. Without --minutes: the short run of
`./manage_all.sh test` (about ten seconds of faults per scenario). With --scale N the stack
runs N gateways, workers and beats (manage_all.sh SCALE=N): the faults hit the first
instance of each, the others work on beside it."""

import argparse
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import django


def main() -> int:
    parser = argparse.ArgumentParser(prog="manage_all.sh chaos", description=__doc__)
    parser.add_argument("--minutes", type=float, default=0, help="soak length (0: short run)")
    parser.add_argument(
        "--scenario", action="append", dest="scenarios", help="only these (repeatable)"
    )
    parser.add_argument(
        "--scale", type=int, default=1, choices=range(1, 9), help="instances (SCALE=N)"
    )
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    from tests.chaos.runner import SCENARIOS, format_summary, run_scenarios
    from tests.stack import free_ports, start_stack, stop_stack

    names = args.scenarios or list(SCENARIOS)
    if unknown := set(names) - set(SCENARIOS):
        parser.error(f"unknown scenario(s) {sorted(unknown)}; known: {', '.join(SCENARIOS)}")

    var_dir = Path(tempfile.mkdtemp(prefix="chaos-"))
    print(f"chaos: stack under {var_dir}", flush=True)  # noqa: T201
    # Orders NEW for 5 s are asked about again (30 s in production): the
    # parked-then-reconciled scenario's orders then settle within the settle time-out.
    scaled = {}
    for instance in range(2, args.scale + 1):
        for service, port in zip(("ORDERS", "PAYMENTS"), free_ports(2), strict=True):
            scaled[f"{service}_WORKER_{instance}_METRICS_PORT"] = str(port)
    stack = start_stack(var_dir, ORDERS_REASK_AFTER_SECONDS="5", SCALE=str(args.scale), **scaled)
    passed = False
    try:
        results = run_scenarios(stack, names, args.minutes)
        passed = all(result.passed for result in results)
        print("\n" + format_summary(results))  # noqa: T201
    finally:
        stop_stack(stack)
        if passed:
            shutil.rmtree(var_dir, ignore_errors=True)
        else:
            print(f"chaos: logs kept in {var_dir}/log")  # noqa: T201
    print("chaos: all invariants hold" if passed else "chaos: INVARIANTS VIOLATED")  # noqa: T201
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
