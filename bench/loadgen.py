"""The load generator, run in its own process (so its CPU is not the system's, and the
system's is not its): asyncio with httpx, one connection per virtual client, kept alive.

    python -m bench.loadgen closed  SPEC   # N clients, each sends its next request at once
    python -m bench.loadgen open    SPEC   # requests started at a fixed rate, whatever answers
    python -m bench.loadgen each    SPEC   # one request per user (set-up)
    python -m bench.loadgen threads SPEC   # as closed, but N threads with `requests`

The `threads` mode is what a plain Python client sees: each thread a `requests.Session`
(the most common Python client), a request after the last one's answer.

SPEC is a JSON object: base_url, method, path, seconds, concurrency or rate, headers,
users (X-User-Id values, round robin), body (JSON, optional), key (send a fresh
Idempotency-Key each request). Prints one JSON object: requests (the answered ones below
300), errors by status or exception, the first error in words (what the report shows when
a run has no figure), rate, latency percentiles (ms) and, for POST /orders, the ids of
the orders created.
"""

import asyncio
import itertools
import json
import sys
import threading
import time
import uuid

import httpx
import requests

from bench.stats import percentiles

# How much of the first failed answer's body the result keeps.
FIRST_ERROR_CHARS = 300


class Load:
    def __init__(self, spec: dict):
        self.spec = spec
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.created: list[str] = []
        self.first_error: str | None = None
        self.users = itertools.cycle(spec["users"])

    def request_headers(self) -> dict:
        headers = {"X-User-Id": next(self.users)}
        if self.spec.get("key"):
            headers["Idempotency-Key"] = uuid.uuid4().hex
        return headers

    async def one(self, client: httpx.AsyncClient) -> None:
        headers = self.request_headers()
        started = time.perf_counter()
        try:
            response = await client.request(
                self.spec["method"], self.spec["path"], json=self.spec.get("body"), headers=headers
            )
        except httpx.HTTPError as exc:
            self.error(type(exc).__name__, f"{type(exc).__name__}: {exc}")
            return
        self.answered(response.status_code, response.text, started)

    def answered(self, status: int, text: str, started: float) -> None:
        if status >= 300:  # an error counts as an error, not as throughput
            body = " ".join(text.split())[:FIRST_ERROR_CHARS]
            self.error(str(status), f"{status} {body}".strip())
            return
        self.latencies.append((time.perf_counter() - started) * 1000)
        if status == 201 and self.spec["path"] == "/orders":
            self.created.append(json.loads(text)["id"])

    def error(self, kind: str, words: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if self.first_error is None:
            self.first_error = f"{self.spec['method']} {self.spec['path']}: {words}"

    def client(self, connections: int) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.spec["base_url"],
            headers=self.spec.get("headers", {}),
            timeout=30,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )

    async def closed(self) -> float:
        """`concurrency` clients, each sending its next request when the last is answered."""
        stop_at = time.perf_counter() + self.spec["seconds"]

        async def client_loop(client: httpx.AsyncClient) -> None:
            while time.perf_counter() < stop_at:
                await self.one(client)

        async with self.client(self.spec["concurrency"]) as client:
            started = time.perf_counter()
            await asyncio.gather(*(client_loop(client) for _ in range(self.spec["concurrency"])))
            return time.perf_counter() - started

    async def each(self) -> float:
        """One request per user (the set-up), `concurrency` at a time."""
        gate = asyncio.Semaphore(self.spec["concurrency"])

        async def limited(client: httpx.AsyncClient) -> None:
            async with gate:
                await self.one(client)

        async with self.client(self.spec["concurrency"]) as client:
            started = time.perf_counter()
            await asyncio.gather(*(limited(client) for _ in self.spec["users"]))
            return time.perf_counter() - started

    async def open(self) -> float:
        """Requests started on a fixed schedule (rate per second): a slow answer does not
        slow the offered load down, as with real independent users."""
        rate, seconds = self.spec["rate"], self.spec["seconds"]
        async with self.client(256) as client:
            started = time.perf_counter()
            tasks = []
            for n in range(int(rate * seconds)):
                await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
                tasks.append(asyncio.create_task(self.one(client)))
            await asyncio.gather(*tasks)
            return time.perf_counter() - started

    def threads(self) -> float:
        """`concurrency` threads, each with a `requests.Session`, in a closed loop."""
        stop_at = time.perf_counter() + self.spec["seconds"]
        lock = threading.Lock()  # the shared user cycle and result lists

        def thread_loop() -> None:
            with requests.Session() as session:
                session.headers.update(self.spec.get("headers", {}))
                while time.perf_counter() < stop_at:
                    with lock:
                        headers = self.request_headers()
                    started = time.perf_counter()
                    try:
                        response = session.request(
                            self.spec["method"], self.spec["base_url"] + self.spec["path"],
                            json=self.spec.get("body"), headers=headers, timeout=30,
                        )  # fmt: skip
                    except requests.RequestException as exc:
                        with lock:
                            self.error(type(exc).__name__, f"{type(exc).__name__}: {exc}")
                        continue
                    with lock:
                        self.answered(response.status_code, response.text, started)

        workers = [threading.Thread(target=thread_loop) for _ in range(self.spec["concurrency"])]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return time.perf_counter() - started

    def result(self, elapsed: float) -> dict:
        return {
            "requests": len(self.latencies),
            "errors": self.errors,
            "seconds": round(elapsed, 3),
            "rate": round(len(self.latencies) / elapsed, 1),
            "latency_ms": percentiles(self.latencies),
            "first_error": self.first_error,
            "created": self.created,
        }


def main() -> None:
    mode, spec = sys.argv[1], json.loads(sys.argv[2])
    load = Load(spec)
    if mode == "threads":
        elapsed = load.threads()
    else:
        elapsed = asyncio.run({"closed": load.closed, "open": load.open, "each": load.each}[mode]())
    json.dump(load.result(elapsed), sys.stdout)


if __name__ == "__main__":
    main()
