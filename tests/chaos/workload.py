"""The clients: many users depositing and placing orders through the gateway, retrying as a
careful client does, and remembering every answer so the invariants can be checked.

A request that times out, cannot connect or gets a 5xx is retried with the same
Idempotency-Key until it gets a definite answer (2xx or 4xx). What could not be settled
while the faults went on is settled after healing (`settle_unresolved`), as a client that
keeps retrying would: so every operation ends acknowledged or refused, and the expected
balances are exact.
"""

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import httpx

# Per attempt; longer than any request takes when nothing is broken.
REQUEST_TIMEOUT = 5.0
# A client gives up for now after this long and tries again once the system is healed.
OPERATION_DEADLINE = 20.0
IMPATIENT_SHARE = 0.1
IMPATIENT_TIMEOUT = 0.005


@dataclass
class Operation:
    """One deposit or order, with every attempt it took."""

    kind: str  # "deposit" | "order"
    user_id: str
    amount: Decimal
    key: str
    body: dict
    attempts: int = 0
    # The first definite answer: status and JSON body; None while unresolved.
    status: int | None = None
    response: dict | None = None
    # The definite answer was a replay of an earlier attempt the client never saw.
    replayed: bool = False
    scenario: str = ""
    # The first attempt gives up after a few milliseconds, as an impatient client does: the
    # request usually goes through unseen, and the retry must get its answer replayed.
    impatient: bool = False

    @property
    def path(self) -> str:
        return "/accounts/deposit" if self.kind == "deposit" else "/orders"

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Stats:
    """What the clients saw, per scenario."""

    operations: Counter = field(default_factory=Counter)
    acknowledged: Counter = field(default_factory=Counter)
    refused: Counter = field(default_factory=Counter)
    retries: int = 0
    replayed: int = 0
    # Non-definite answers by kind: "timeout", "connect", "502", ...
    failures: Counter = field(default_factory=Counter)


class Workload:
    """Users and client threads; `run_for` drives them for a while."""

    def __init__(self, gateway_url: str, *, users: int = 24, threads: int = 6, seed: int = 0):
        self.gateway_url = gateway_url
        self.threads = threads
        self.random = random.Random(seed)
        run = uuid.uuid4().hex[:8]
        # A few users never open an account: their orders are cancelled (account_not_found).
        self.users = [f"chaos-{run}-{n}" for n in range(users)]
        self.without_account = set(self.users[: max(1, users // 8)])
        self.operations: list[Operation] = []
        self.stats: dict[str, Stats] = {}
        self._lock = threading.Lock()

    def client(self, user_id: str | None = None) -> httpx.Client:
        headers = {"X-User-Id": user_id} if user_id else {}
        return httpx.Client(base_url=self.gateway_url, headers=headers, timeout=REQUEST_TIMEOUT)

    def open_accounts(self) -> None:
        """Before any fault: every user but a few opens an account (409 = already open)."""
        for user_id in self.users:
            if user_id in self.without_account:
                continue
            with self.client(user_id) as client:
                response = client.post("/accounts")
                if response.status_code not in (201, 409):
                    raise RuntimeError(
                        f"opening an account: {response.status_code} {response.text}"
                    )

    # --- driving -------------------------------------------------------------------------

    def run_for(self, seconds: float, scenario: str) -> None:
        stop_at = time.monotonic() + seconds
        self.stats.setdefault(scenario, Stats())
        workers = [
            threading.Thread(target=self._client_loop, args=(stop_at, scenario, n), daemon=True)
            for n in range(self.threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    def _client_loop(self, stop_at: float, scenario: str, index: int) -> None:
        rng = random.Random(f"{scenario}-{index}-{time.time()}")
        while time.monotonic() < stop_at:
            operation = self._next_operation(rng, scenario)
            self.perform(operation, deadline=time.monotonic() + OPERATION_DEADLINE)
            time.sleep(rng.uniform(0.01, 0.05))

    def _next_operation(self, rng: random.Random, scenario: str) -> Operation:
        user_id = rng.choice(self.users)
        if rng.random() < 0.3 and user_id not in self.without_account:
            kind, amount = "deposit", Decimal(rng.randint(10, 100))
        else:
            # Often more than the balance: some orders fit, some are cancelled.
            kind, amount = "order", Decimal(rng.randint(500, 9000)) / 100
        body = {"amount": str(amount)}
        if kind == "order":
            body["description"] = "chaos"
        operation = Operation(
            kind,
            user_id,
            amount,
            str(uuid.uuid4()),
            body,
            scenario=scenario,
            impatient=rng.random() < IMPATIENT_SHARE,
        )
        with self._lock:
            self.operations.append(operation)
            self.stats[scenario].operations[kind] += 1
        return operation

    def perform(self, operation: Operation, *, deadline: float) -> None:
        """Send until a definite answer or the deadline; the same key every time."""
        stats = self.stats.setdefault(operation.scenario, Stats())
        delay = 0.1
        with self.client(operation.user_id) as client:
            while operation.status is None and time.monotonic() < deadline:
                failure = self._attempt(client, operation)
                if failure is None:
                    break
                with self._lock:
                    stats.failures[failure] += 1
                    stats.retries += 1
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        if operation.status is None:
            return
        with self._lock:
            counter = stats.acknowledged if operation.acknowledged else stats.refused
            counter[operation.kind] += 1
            stats.replayed += operation.replayed

    def _attempt(self, client: httpx.Client, operation: Operation) -> str | None:
        """One request; None once answered definitely, else what went wrong."""
        operation.attempts += 1
        timeout = IMPATIENT_TIMEOUT if operation.impatient and operation.attempts == 1 else None
        try:
            response = client.post(
                operation.path,
                json=operation.body,
                headers={"Idempotency-Key": operation.key},
                timeout=timeout or REQUEST_TIMEOUT,
            )
        except httpx.TimeoutException:
            return "timeout"
        except httpx.TransportError:
            return "connection"
        if response.status_code >= 500:
            return str(response.status_code)
        operation.status = response.status_code
        operation.response = _json_or_text(response)
        operation.replayed = response.headers.get("Idempotent-Replayed") == "true"
        return None

    def settle_unresolved(self, *, timeout: float = 60.0) -> list[Operation]:
        """After healing: retry what is still unanswered; returns what stays unanswered."""
        deadline = time.monotonic() + timeout
        for operation in self.operations:
            if operation.status is None:
                self.perform(operation, deadline=deadline)
        return [operation for operation in self.operations if operation.status is None]

    def replay_all(self, operations: list[Operation]) -> list[str]:
        """Send each acknowledged operation again with its key: each must get its first
        answer back, marked as a replay, and change nothing. Returns the differences."""
        problems = []
        for operation in operations:
            if not operation.acknowledged:
                continue
            with self.client(operation.user_id) as client:
                response = client.post(
                    operation.path,
                    json=operation.body,
                    headers={"Idempotency-Key": operation.key},
                    timeout=30,
                )
            same = (response.status_code, _json_or_text(response)) == (
                operation.status,
                operation.response,
            )
            if not same or response.headers.get("Idempotent-Replayed") != "true":
                problems.append(
                    f"{operation.kind} {operation.key}: first {operation.status} "
                    f"{operation.response}, replay {response.status_code} {response.text[:200]}"
                )
        return problems


def _json_or_text(response: httpx.Response):
    try:
        return response.json()
    except ValueError:
        return response.text
