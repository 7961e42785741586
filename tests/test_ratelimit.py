"""Rate limits on a running stack (docs/security.md): the gateway's gunicorn workers (two,
GATEWAY_WORKERS=2 below) take their tokens from one bucket in Redis, so a user
gets its burst once, not once per worker; and /readyz, which is not limited, reaches the
services at most about once a second per worker however often it is called."""

import re
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.stack import start_stack, stop_stack

RATE, BURST = 5, 10
# The access line of a request: its worker's pid, its status, and its request id.
ACCESS_LINE = re.compile(r"\[(\d+)\] shop\.access: GET /orders (\d{3}) .*request_id=(\S+)")


@pytest.fixture(scope="module")
def limited_stack(tmp_path_factory):
    """A stack with a low user limit: 5 requests/s, 10 at once, and two gateway workers
    (one by default) to share it."""
    stack = start_stack(
        tmp_path_factory.mktemp("ratelimit"),
        GATEWAY_WORKERS="2",
        GATEWAY_RATE_LIMIT_PER_USER=str(RATE),
        GATEWAY_RATE_LIMIT_BURST=str(BURST),
    )
    yield stack
    stop_stack(stack)


def burst_of_one_user(stack, requests: int) -> tuple[str, dict[str, int], float]:
    """`requests` GETs of one new user at once, each on a connection of its own so that
    both workers accept some; returns the user, each request id's status, and the seconds
    from the first sent to the last answered."""
    user = f"rl-{uuid.uuid4().hex[:12]}"
    ids = [f"{user}-{n}" for n in range(requests)]
    statuses: dict[str, int] = {}
    clients = [httpx.Client(base_url=stack.gateway_url, timeout=10) for _ in ids]
    for client in clients:  # connected before the burst, so all of them are in flight at once
        client.get("/healthz")
    ready = threading.Barrier(requests + 1)

    def send(client: httpx.Client, request_id: str):
        ready.wait()
        answer = client.get("/orders", headers={"X-User-Id": user, "X-Request-Id": request_id})
        statuses[request_id] = answer.status_code

    threads = [threading.Thread(target=send, args=pair) for pair in zip(clients, ids, strict=True)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.monotonic()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    for client in clients:
        client.close()
    return user, statuses, elapsed


def workers_of(stack, request_ids: set[str], timeout: float = 10) -> dict[str, int]:
    """Request id -> pid of the gateway worker that answered it, from the gateway's access
    lines (plain log format: `[pid] shop.access: GET /orders 429 ... request_id=...`)."""
    log = Path(stack.env["VAR_DIR"]) / "log" / "gateway.log"
    deadline = time.monotonic() + timeout
    while True:
        found = {
            match[3]: int(match[1])
            for match in ACCESS_LINE.finditer(log.read_text())
            if match[3] in request_ids
        }
        if len(found) == len(request_ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_two_gateway_workers_share_one_users_bucket(limited_stack):
    # The kernel hands the connections to whichever worker accepts first. A burst proves the
    # bucket is shared when both workers answered enough of it that a bucket each would have
    # let clearly more through than one shared bucket can: else try again.
    for _ in range(5):
        user, statuses, elapsed = burst_of_one_user(limited_stack, 30)
        workers = workers_of(limited_stack, set(statuses))
        assert len(workers) == 30, "an access line is missing from gateway.log"
        answered = Counter(workers.values())
        shared_at_most = BURST + RATE * elapsed + 1  # the burst, and what refilled meanwhile
        one_bucket_each = sum(min(count, BURST) for count in answered.values())
        if len(answered) == 2 and one_bucket_each > shared_at_most:
            break
    else:
        pytest.fail(f"the workers never shared a burst evenly enough: {answered}")

    accepted = [rid for rid, status in statuses.items() if status == 200]
    assert sorted(set(statuses.values())) == [200, 429], statuses
    assert BURST <= len(accepted) <= shared_at_most, (len(accepted), elapsed, answered)
    assert len(accepted) < one_bucket_each

    # The bucket is in Redis under the stack's own prefix (its STACK_NAME).
    store = redis.Redis.from_url("redis://127.0.0.1:6379/0", decode_responses=True)
    bucket = store.hgetall(f"shop:{limited_stack.env['STACK_NAME']}:ratelimit:user:{user}")
    assert float(bucket["tokens"]) < BURST


def test_a_limited_user_gets_a_429_with_the_headers_and_another_user_does_not(limited_stack):
    with httpx.Client(base_url=limited_stack.gateway_url, timeout=10) as api:
        greedy = {"X-User-Id": f"rl-{uuid.uuid4().hex[:12]}"}
        answers = [api.get("/orders", headers=greedy) for _ in range(BURST + 5)]
        other = api.get("/orders", headers={"X-User-Id": f"rl-{uuid.uuid4().hex[:12]}"})

    assert answers[0].status_code == 200
    assert answers[0].headers["RateLimit-Policy"].startswith(f'"user";q={BURST};w=2')
    assert answers[0].headers["RateLimit"].startswith(f'"user";r={BURST - 1};')
    refused = [answer for answer in answers if answer.status_code == 429]
    assert refused, [answer.status_code for answer in answers]
    assert refused[0].headers["Content-Type"] == "application/problem+json"
    assert refused[0].json()["type"] == "urn:problem:rate-limited"
    assert int(refused[0].headers["Retry-After"]) >= 1
    assert refused[0].headers["RateLimit"].startswith('"user";r=0;t=')
    assert other.status_code == 200


def readyz_answers_of(stack, service: str) -> float:
    """How many /readyz the service answered (its shop_http_requests_total)."""
    text = httpx.get(f"{stack.url(service)}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "shop_http_requests_total" and sample.labels.get("route") == "readyz"
    )


def test_hammering_readyz_reaches_the_services_about_once_a_second_per_worker(limited_stack):
    before = readyz_answers_of(limited_stack, "orders")
    started = time.monotonic()
    with httpx.Client(base_url=limited_stack.gateway_url, timeout=10) as api:
        statuses = [api.get("/readyz").status_code for _ in range(200)]
    elapsed = time.monotonic() - started
    asked = readyz_answers_of(limited_stack, "orders") - before

    assert statuses == [200] * 200  # never limited
    # Each of the two workers asks at most once per second it served /readyz in.
    assert 1 <= asked <= 2 * (elapsed + 1), (asked, elapsed)
