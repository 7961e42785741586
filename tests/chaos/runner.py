"""One chaos run: a stack of its own, the workload, each scenario's faults, healing,
settling, and the invariants checked after every scenario over everything so far."""

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from tests.chaos import invariants
from tests.chaos.faults import Faults
from tests.chaos.workload import Stats, Workload
from tests.stack import Stack

# name -> (inject(faults, cycle, seconds) -> description, cycles in the short run)
Scenario = tuple[Callable[[Faults, int, float], str], int]
SCENARIOS: dict[str, Scenario] = {
    "worker-kill": (lambda f, cycle, _: f.inject_worker_kill(cycle), 2),
    "pool-child-kill": (lambda f, cycle, _: f.inject_pool_child_kill(cycle), 2),
    "beat-kill": (lambda f, cycle, _: f.inject_beat_kill(cycle), 2),
    "two-beats": (lambda f, _, seconds: f.inject_second_beats(seconds), 1),
    "competing-consumers": (lambda f, _, seconds: f.inject_competing_consumers(seconds), 1),
    "web-kill": (lambda f, cycle, _: f.inject_web_kill(cycle), 3),
    "rabbitmq-stop": (lambda f, *_: f.inject_rabbitmq_stop(), 1),
    "rabbitmq-close-connections": (lambda f, *_: f.inject_rabbitmq_close_connections(), 2),
    "postgres-restart": (lambda f, *_: f.inject_postgres_restart(), 1),
    "postgres-terminate": (lambda f, *_: f.inject_postgres_terminate(), 2),
    "worker-pause": (lambda f, cycle, _: f.inject_worker_pause(cycle), 2),
    "rabbitmq-pause": (lambda f, *_: f.inject_rabbitmq_pause(), 1),
    "duplicates": (lambda f, *_: f.inject_duplicates(), 2),
    "poison": (lambda f, *_: f.inject_poison(), 1),
    "postgres-pause": (lambda f, *_: f.inject_postgres_pause(10), 1),
    "postgres-down-60s": (lambda f, *_: f.inject_postgres_down(60), 1),
    "parked-then-reconciled": (lambda f, _, seconds: f.inject_parked_and_lost_results(seconds), 1),
}
# Scenarios whose fault outlasts the short run's ten seconds: the workload runs this long.
MIN_SECONDS = {"postgres-pause": 24.0, "postgres-down-60s": 130.0, "parked-then-reconciled": 16.0}
SHORT_SCENARIO_SECONDS = 10.0
# A soak gives each scenario a fault about this often.
SOAK_FAULT_INTERVAL = 10.0
SETTLE_TIMEOUT = 60.0


@dataclass
class ScenarioResult:
    name: str
    seconds: float
    faults: list[str]
    stats: Stats
    final_states: Counter
    settled_in: float
    violations: dict[str, list[str]]
    balance_samples: int

    @property
    def passed(self) -> bool:
        return not any(self.violations.values())


class BalanceSampler(threading.Thread):
    """I2 during the faults: samples the balances twice a second (when PostgreSQL answers)."""

    def __init__(self, payments_url: str):
        super().__init__(daemon=True)
        self.payments_url = payments_url
        self.violations: list[str] = []
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.5):
            try:
                self.violations += invariants.sample_balances(self.payments_url)
                self.samples += 1
            except psycopg.Error:
                pass  # PostgreSQL is down: that is one of the faults

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def run_scenarios(stack: Stack, names: list[str], minutes: float) -> list[ScenarioResult]:
    workload = Workload(stack.gateway_url)
    workload.open_accounts()
    faults = Faults(stack)
    sampler = BalanceSampler(stack.env["PAYMENTS_DATABASE_URL"])
    sampler.start()
    results = []
    try:
        for name in names:
            _, short_cycles = SCENARIOS[name]
            if minutes:
                seconds = minutes * 60 / len(names)
                cycles = max(short_cycles, int(seconds // SOAK_FAULT_INTERVAL))
            else:
                seconds, cycles = SHORT_SCENARIO_SECONDS, short_cycles
            seconds = max(seconds, MIN_SECONDS.get(name, 0.0))
            result = run_scenario(stack, workload, faults, sampler, name, seconds, cycles)
            print(format_result(result), flush=True)  # noqa: T201 - the report
            results.append(result)
    finally:
        sampler.stop()
    return results


def run_scenario(
    stack: Stack,
    workload: Workload,
    faults: Faults,
    sampler: BalanceSampler,
    name: str,
    seconds: float,
    cycles: int,
) -> ScenarioResult:
    inject, _ = SCENARIOS[name]
    injected: list[str] = []
    errors: list[BaseException] = []

    def inject_faults() -> None:
        # Evenly spread over the scenario, while the workload runs.
        gap = seconds / (cycles + 1)
        started = time.monotonic()
        for cycle in range(cycles):
            time.sleep(max(0.0, started + gap * (cycle + 1) - time.monotonic()))
            try:
                injected.append(inject(faults, cycle, gap / 2))
            except Exception as exc:  # reported, and the run fails
                errors.append(exc)
                return

    samples_before = sampler.samples
    injector = threading.Thread(target=inject_faults, daemon=True)
    injector.start()
    workload.run_for(seconds, name)
    injector.join()
    if errors:
        with contextlib.suppress(Exception):  # leave no paused or stopped server behind
            faults.heal()
        raise RuntimeError(f"{name}: injecting the fault failed: {errors[0]}") from errors[0]

    faults.heal()
    healed_at = time.monotonic()
    workload.settle_unresolved(timeout=SETTLE_TIMEOUT)
    wait_until_settled(stack, workload, healed_at + SETTLE_TIMEOUT)
    settled_in = time.monotonic() - healed_at
    mine = [op for op in workload.operations if op.scenario == name]
    replay_problems = workload.replay_all(mine)
    snapshot = invariants.load_snapshot(stack_databases(stack))
    violations = invariants.check_all(
        snapshot,
        workload.operations,
        sampled=sampler.violations,
        replay_problems=replay_problems,
        poison=faults.poison,
    )
    # Orders and Payments agree, as the daily reconciliation checks it (every change has
    # settled: nothing counts as in flight).
    violations["I7 reconciled"] = reconciliation_differences(stack)
    if name == "competing-consumers":
        # Batch handlers lock accounts and orders in sorted order: competing consumers wait
        # for each other, and no message spends an attempt on a deadlock (issue 15).
        violations["no attempt spent on a deadlock"] = deadlocked_messages(stack)
    # Not one of I1-I6, but a promise too: whatever fails, no request gets a 500. Counted
    # over the whole run: settling retries earlier scenarios' requests too.
    server_errors = sum(stats.failures["500"] for stats in workload.stats.values())
    violations["no 500 answers"] = [f"{server_errors} answer(s) 500"] if server_errors else []
    if sampler.samples == samples_before:
        violations["I2 never negative"].append("no balance could be sampled during the faults")
    final_states = Counter(
        _state(snapshot.orders.get(op.response["id"]))
        for op in mine
        if op.kind == "order" and op.acknowledged
    )
    return ScenarioResult(
        name=name,
        seconds=seconds,
        faults=injected,
        stats=workload.stats[name],
        final_states=final_states,
        settled_in=settled_in,
        violations=violations,
        balance_samples=sampler.samples,
    )


def deadlocked_messages(stack: Stack) -> list[str]:
    """Inbox messages whose last failed attempt was a deadlock, in either service."""
    found = []
    for service, url in stack_databases(stack).items():
        with psycopg.connect(url) as connection:
            rows = connection.execute(
                "SELECT message_id, type, attempts FROM messaging_inboxmessage "
                "WHERE last_error ILIKE '%deadlock%'"
            ).fetchall()
        found += [f"{service}: {mid} ({kind}, {n} attempt(s))" for mid, kind, n in rows]
    return found


def reconciliation_differences(stack: Stack) -> list[str]:
    result = stack.manage("orders", "reconcile_payments", "--in-flight-seconds", "0")
    if result.returncode == 0:
        return []
    return [line for line in result.stderr.splitlines() if line.strip()] or [result.stdout]


def _state(order: invariants.OrderRow | None) -> str:
    if order is None:
        return "missing"
    return f"{order.status} {order.reason}".strip()


def stack_databases(stack: Stack) -> dict[str, str]:
    return {
        service: stack.env[f"{service.upper()}_DATABASE_URL"] for service in invariants.SERVICES
    }


def wait_until_settled(stack: Stack, workload: Workload, deadline: float) -> None:
    """Until every order is terminal and nothing waits in an outbox or inbox (or the
    deadline: the checks then report what did not settle)."""
    while True:
        snapshot = invariants.load_snapshot(stack_databases(stack))
        waiting = any(
            m.outbox_pending or m.inbox_pending for m in snapshot.messages.values()
        ) or invariants.check_orders_settled(snapshot, workload.operations)
        if not waiting or time.monotonic() > deadline:
            return
        time.sleep(0.25)


# --- the report ----------------------------------------------------------------------------


def _counts(counter: Counter) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counter.items())) or "-"


def format_result(result: ScenarioResult) -> str:
    stats = result.stats
    rows = [
        ("faults injected", "; ".join(result.faults) or "-"),
        ("operations", _counts(stats.operations)),
        ("acknowledged", _counts(stats.acknowledged)),
        ("refused (4xx)", _counts(stats.refused)),
        ("client retries", f"{stats.retries} ({_counts(stats.failures)})"),
        ("answers replayed", str(stats.replayed)),
        ("final order states", _counts(result.final_states)),
        ("settled after healing", f"{result.settled_in:.1f} s"),
        ("balance samples so far", str(result.balance_samples)),
    ]
    rows += [
        (name, "ok" if not problems else f"VIOLATED ({len(problems)}): {problems[0]}")
        for name, problems in result.violations.items()
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"\n== {result.name} ({result.seconds:.0f} s)"]
    lines += [f"  {label:<{width}}  {value}" for label, value in rows]
    return "\n".join(lines)


def _short(invariant: str) -> str:
    return invariant.split()[0] if invariant.startswith("I") else "no 500"


def format_summary(results: list[ScenarioResult]) -> str:
    """One markdown table, a row per scenario (docs/reliability.md keeps the last soak's)."""
    names = list(results[0].violations) if results else []
    header = ["scenario", "faults", "ops", "acked", "retries", "FINISHED", "CANCELLED", "settled"]
    lines = [
        "| " + " | ".join(header + [_short(name) for name in names]) + " |",
        "|" + "---|" * (len(header) + len(names)),
    ]
    for result in results:
        states = result.final_states
        cells = [
            result.name,
            str(len(result.faults)),
            str(sum(result.stats.operations.values())),
            str(sum(result.stats.acknowledged.values())),
            str(result.stats.retries),
            str(states["FINISHED"]),
            str(sum(v for k, v in states.items() if k.startswith("CANCELLED"))),
            f"{result.settled_in:.1f} s",
        ] + ["ok" if not result.violations[name] else "FAIL" for name in names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
