"""Rate limits (gateway/ratelimit.py): the token bucket against the machine's real Redis,
and the gateway's answers with Django's client. Every test has buckets of its own (a key
prefix of its own), deleted afterwards."""

import contextlib
import logging
import socket
import threading
import time
import uuid

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory
from prometheus_client import REGISTRY

from gateway_project.gateway import auth, ratelimit, views
from gateway_project.settings.base import _rate_limit

PROBLEM = "application/problem+json"


@pytest.fixture
def limits(settings, monkeypatch):
    """Buckets of this test only; per-process store health reset (a test that points at a
    dead Redis must not make the next one skip it)."""
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    settings.GATEWAY_RATE_LIMIT_KEY_PREFIX = prefix
    monkeypatch.setattr(ratelimit, "_health", ratelimit._StoreHealth())
    url = settings.GATEWAY_RATE_LIMIT_REDIS_URL
    yield settings
    store = redis.Redis.from_url(url)
    keys = list(store.scan_iter(f"{prefix}*"))
    if keys:
        store.delete(*keys)


@pytest.fixture
def store(limits):
    return redis.Redis.from_url(limits.GATEWAY_RATE_LIMIT_REDIS_URL, decode_responses=True)


def take(limits, *buckets: tuple[str, float, int]) -> tuple[bool, list[float]]:
    """One run of the script on buckets (name, rate, burst)."""
    answer = ratelimit._take_token(
        keys=[limits.GATEWAY_RATE_LIMIT_KEY_PREFIX + name for name, _, _ in buckets],
        args=[value for _, rate, burst in buckets for value in (rate, burst)],
    )
    return int(answer[0]) == 1, [float(tokens) for tokens in answer[1::2]]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def store_errors() -> float:
    return REGISTRY.get_sample_value("shop_gateway_rate_limit_store_errors_total") or 0.0


def rate_limited(scope: str) -> float:
    return REGISTRY.get_sample_value("shop_gateway_rate_limited_total", {"scope": scope}) or 0.0


# --- the bucket, in Redis ---------------------------------------------------------------


def test_a_fresh_bucket_lets_its_burst_through_then_refuses(limits):
    answers = [take(limits, ("b", 0.01, 3)) for _ in range(5)]

    assert [allowed for allowed, _ in answers] == [True, True, True, False, False]
    assert [round(tokens[0]) for _, tokens in answers] == [2, 1, 0, 0, 0]


def test_a_bucket_refills_at_its_rate(limits):
    for _ in range(2):
        take(limits, ("b", 20, 2))
    assert take(limits, ("b", 20, 2))[0] is False

    time.sleep(0.06)  # 1.2 tokens at 20/s

    assert take(limits, ("b", 20, 2))[0] is True
    assert take(limits, ("b", 20, 2))[0] is False


def test_the_refill_runs_on_the_redis_servers_clock(limits, store):
    # A bucket left empty one second ago by the server's clock holds `rate` tokens now,
    # whatever the gateway's clock says; one stamped in the future gains nothing.
    seconds, micros = store.time()
    now_us = seconds * 1_000_000 + micros
    key = limits.GATEWAY_RATE_LIMIT_KEY_PREFIX
    store.hset(key + "past", mapping={"tokens": "0", "ts": str(now_us - 1_000_000)})
    store.hset(key + "future", mapping={"tokens": "0", "ts": str(now_us + 60_000_000)})

    _, [past] = take(limits, ("past", 4, 10))
    _, [future] = take(limits, ("future", 4, 10))

    assert 2.9 < past < 3.5  # 4 refilled, 1 taken
    assert future == 0.0  # nothing refilled, nothing taken


def test_a_bucket_expires_when_it_would_be_full_again(limits, store):
    take(limits, ("b", 2, 10))  # 9 left: full again in 0.5 s

    ttl = store.pttl(limits.GATEWAY_RATE_LIMIT_KEY_PREFIX + "b")

    assert 1000 < ttl <= 1500
    assert store.hget(limits.GATEWAY_RATE_LIMIT_KEY_PREFIX + "b", "tokens") == "9.000000"


def test_a_request_refused_by_one_bucket_takes_nothing_from_the_other(limits):
    take(limits, ("user", 0.01, 1))

    answer = ratelimit._take_token(
        keys=[limits.GATEWAY_RATE_LIMIT_KEY_PREFIX + name for name in ("user", "address")],
        args=[0.01, 1, 0.01, 5],
    )

    refused, user_tokens, user_short, address_tokens, address_short = answer
    assert (refused, user_short, address_short) == (0, 1, 0)  # the user's bucket refused it
    assert float(user_tokens) < 1
    assert float(address_tokens) == 5.0  # nothing taken


def test_concurrent_takes_never_let_more_than_the_burst_through(limits):
    results = []

    def worker():
        for _ in range(5):
            results.append(take(limits, ("b", 0.001, 20))[0])

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 80
    assert results.count(True) == 20


# --- the gateway's answers ----------------------------------------------------------------


def test_a_burst_over_the_user_limit_is_429_with_retry_after_and_ratelimit_headers(
    client, upstreams, limits
):
    limits.GATEWAY_RATE_LIMIT_PER_USER, limits.GATEWAY_RATE_LIMIT_BURST = 0.5, 3
    limits.GATEWAY_RATE_LIMIT_PER_ADDRESS = 0

    answers = [client.get("/orders", headers={"X-User-Id": "u-1"}) for _ in range(5)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429, 429]
    assert len(upstreams["orders"].seen) == 3  # the refused ones never reach the service
    assert [answer["RateLimit"] for answer in answers[:3]] == [
        '"user";r=2;t=2',
        '"user";r=1;t=4',
        '"user";r=0;t=6',
    ]
    refused = answers[3]
    assert refused["Content-Type"] == PROBLEM
    assert refused.json() == {
        "type": "urn:problem:rate-limited",
        "title": "Too Many Requests",
        "status": 429,
        "detail": "Too many requests from this user; retry in 2 s.",
        "instance": "/orders",
        "violated-policies": ["user"],
    }
    assert refused["Retry-After"] == "2"  # one token at 0.5/s
    assert refused["RateLimit"] == '"user";r=0;t=2'
    for answer in answers:
        assert answer["RateLimit-Policy"] == '"user";q=3;w=6'


def test_another_user_is_unaffected(client, upstreams, limits):
    limits.GATEWAY_RATE_LIMIT_PER_USER, limits.GATEWAY_RATE_LIMIT_BURST = 0.01, 2
    for _ in range(3):
        client.get("/accounts/balance", headers={"X-User-Id": "greedy"})
    assert client.get("/accounts/balance", headers={"X-User-Id": "greedy"}).status_code == 429

    other = client.get("/accounts/balance", headers={"X-User-Id": "patient"})

    assert other.status_code == 200
    assert other["RateLimit"].startswith('"user";r=1;')


def test_the_user_limit_holds_across_routes_and_counts_refusals(client, upstreams, limits):
    limits.GATEWAY_RATE_LIMIT_PER_USER, limits.GATEWAY_RATE_LIMIT_BURST = 0.01, 2
    before = rate_limited("user")
    headers = {"X-User-Id": "u-2"}

    statuses = [
        client.post("/orders", {}, content_type="application/json", headers=headers).status_code,
        client.get("/accounts/balance", headers=headers).status_code,
        client.get("/orders/abc", headers=headers).status_code,
    ]

    assert statuses == [201, 200, 429]
    assert rate_limited("user") == before + 1


def test_the_address_limit_holds_whatever_user_id_a_client_sends(client, upstreams, limits):
    limits.GATEWAY_RATE_LIMIT_PER_ADDRESS, limits.GATEWAY_RATE_LIMIT_ADDRESS_BURST = 0.01, 3
    before = rate_limited("address")

    statuses = [
        client.get("/orders", headers={"X-User-Id": f"u-{n}"}, REMOTE_ADDR="203.0.113.7")
        for n in range(4)
    ]
    elsewhere = client.get("/orders", headers={"X-User-Id": "u-0"}, REMOTE_ADDR="203.0.113.8")

    assert [answer.status_code for answer in statuses] == [200, 200, 200, 429]
    refused = statuses[-1]
    assert refused.json()["violated-policies"] == ["address"]
    assert refused.json()["detail"].startswith("Too many requests from this address;")
    assert refused["RateLimit-Policy"] == '"user";q=200;w=2, "address";q=3;w=300'
    assert refused["RateLimit"].endswith('"address";r=0;t=100')
    assert refused["Retry-After"] == "100"
    assert elsewhere.status_code == 200
    assert rate_limited("address") == before + 1


def test_x_forwarded_for_counts_only_behind_as_many_trusted_proxies(client, upstreams, limits):
    limits.GATEWAY_RATE_LIMIT_PER_ADDRESS, limits.GATEWAY_RATE_LIMIT_ADDRESS_BURST = 0.01, 1
    limits.GATEWAY_RATE_LIMIT_PER_USER = 0

    def get(forwarded_for: str):
        return client.get("/orders", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded_for)

    # No proxy trusted: a made-up X-Forwarded-For does not make a new client.
    assert [get(f"198.51.100.{n}").status_code for n in (1, 2)] == [200, 429]

    limits.GATEWAY_RATE_LIMIT_TRUSTED_PROXIES = 1
    # Behind one proxy: the address it appended, not what the client put in front of it.
    assert get("1.2.3.4, 198.51.100.1").status_code == 200
    assert get("5.6.7.8, 198.51.100.1").status_code == 429
    assert get("198.51.100.2").status_code == 200


def test_addresses_are_counted_by_ipv4_and_ipv6_slash_64():
    assert ratelimit.address_key("203.0.113.7") == "203.0.113.7"
    assert ratelimit.address_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert ratelimit.address_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert ratelimit.address_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert ratelimit.address_key("not an address").startswith("sha256:")


def test_a_user_id_is_part_of_a_key_as_it_is_only_when_plain():
    assert ratelimit._key_part("8d3f1c2e-7a4b-4e59-9c1d-2f6e8a9b0c11") == (
        "8d3f1c2e-7a4b-4e59-9c1d-2f6e8a9b0c11"
    )
    hashed = ratelimit._key_part("x" * 5000 + "\n*")
    assert hashed.startswith("sha256:")
    assert len(hashed) == len("sha256:") + 32


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/swagger"])
def test_probes_and_documents_are_not_limited(client, upstreams, limits, path):
    limits.GATEWAY_RATE_LIMIT_PER_USER, limits.GATEWAY_RATE_LIMIT_BURST = 0.01, 1
    limits.GATEWAY_RATE_LIMIT_PER_ADDRESS, limits.GATEWAY_RATE_LIMIT_ADDRESS_BURST = 0.01, 1
    headers = {"X-User-Id": "u-1"}
    client.get("/orders", headers=headers)
    assert client.get("/orders", headers=headers).status_code == 429

    answers = [client.get(path, headers=headers) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert all("RateLimit" not in answer for answer in answers)


def test_with_both_limits_off_nothing_is_counted_or_asked(client, upstreams, limits):
    limits.GATEWAY_RATE_LIMIT_PER_USER = limits.GATEWAY_RATE_LIMIT_PER_ADDRESS = 0
    limits.GATEWAY_RATE_LIMIT_REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    before = store_errors()

    answers = [client.get("/orders", headers={"X-User-Id": "u-1"}) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert all("RateLimit" not in answer for answer in answers)
    assert store_errors() == before


def test_without_redis_requests_pass_counted_and_logged_once(client, upstreams, limits, caplog):
    limits.GATEWAY_RATE_LIMIT_PER_USER, limits.GATEWAY_RATE_LIMIT_BURST = 0.01, 1
    limits.GATEWAY_RATE_LIMIT_REDIS_URL = f"redis://:secret@127.0.0.1:{closed_port()}/0"
    before = store_errors()
    started = time.monotonic()

    with caplog.at_level(logging.WARNING, logger=ratelimit.__name__):
        answers = [client.get("/orders", headers={"X-User-Id": "u-1"}) for _ in range(20)]

    assert [answer.status_code for answer in answers] == [200] * 20  # fail open
    assert all("RateLimit" not in answer for answer in answers)
    assert store_errors() == before + 20
    warnings = [r.getMessage() for r in caplog.records if r.name == ratelimit.__name__]
    assert len(warnings) == 1
    assert "Rate limits off (fail open)" in warnings[0]
    assert "secret" not in warnings[0]
    assert time.monotonic() - started < 2  # an outage does not slow every request down


def test_a_redis_that_does_not_answer_costs_the_time_out_once_a_second(limits):
    # A listening socket that never answers (a paused or blackholed Redis): the kernel
    # accepts each connection into the backlog, where the test counts them.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    silent.setblocking(False)
    limits.GATEWAY_RATE_LIMIT_REDIS_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
    limits.GATEWAY_RATE_LIMIT_REDIS_TIMEOUT_SECONDS = 0.05
    request = RequestFactory().get("/orders")
    timings = []
    try:
        for _ in range(5):
            started = time.monotonic()
            decision = ratelimit.check(request, user_id="u-1")
            timings.append(time.monotonic() - started)
            assert decision.allowed
        connections = 0
        with contextlib.suppress(BlockingIOError):
            while True:
                silent.accept()[0].close()
                connections += 1
    finally:
        silent.close()

    assert 0.05 <= timings[0] < 0.5  # the first waits for the time-out ...
    assert max(timings[1:]) < 0.01  # ... the next ones within the second do not ask
    assert connections == 1


def test_limits_come_back_when_redis_does(client, upstreams, limits, monkeypatch, caplog):
    monkeypatch.setattr(ratelimit, "STORE_RETRY_SECONDS", 0.1)
    limits.GATEWAY_RATE_LIMIT_PER_USER, limits.GATEWAY_RATE_LIMIT_BURST = 0.01, 1
    working = limits.GATEWAY_RATE_LIMIT_REDIS_URL
    limits.GATEWAY_RATE_LIMIT_REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    assert client.get("/orders", headers={"X-User-Id": "u-1"}).status_code == 200

    limits.GATEWAY_RATE_LIMIT_REDIS_URL = working
    time.sleep(0.15)
    with caplog.at_level(logging.INFO, logger=ratelimit.__name__):
        statuses = [client.get("/orders", headers={"X-User-Id": "u-1"}).status_code for _ in "ab"]

    assert statuses == [200, 429]
    assert "Rate limits on again" in caplog.text


@pytest.mark.parametrize(
    ("rate", "burst"),
    [("-1", "10"), ("5", "0"), ("5", "-3")],
    ids=["negative-rate", "no-burst", "negative-burst"],
)
def test_a_limit_that_lets_nothing_through_is_refused_at_start(monkeypatch, rate, burst):
    monkeypatch.setenv("GATEWAY_RATE_LIMIT_PER_USER", rate)
    monkeypatch.setenv("GATEWAY_RATE_LIMIT_BURST", burst)

    with pytest.raises(ImproperlyConfigured, match="GATEWAY_RATE_LIMIT_PER_USER must be 0"):
        _rate_limit("GATEWAY_RATE_LIMIT_PER_USER", 100.0, "GATEWAY_RATE_LIMIT_BURST", 200)


def test_a_rate_of_0_turns_a_limit_off_whatever_its_burst(monkeypatch):
    monkeypatch.setenv("GATEWAY_RATE_LIMIT_PER_USER", "0")
    monkeypatch.setenv("GATEWAY_RATE_LIMIT_BURST", "0")

    assert _rate_limit("GATEWAY_RATE_LIMIT_PER_USER", 100.0, "GATEWAY_RATE_LIMIT_BURST", 200) == (
        0.0,
        0,
    )


# --- /readyz answers from a one-second cache ------------------------------------------------


def test_readyz_asks_the_services_at_most_once_a_second(client, upstreams, monkeypatch):
    monkeypatch.setattr(views, "READYZ_CACHE_SECONDS", 0.3)

    first = [client.get("/readyz").status_code for _ in range(10)]
    asked_first = len(upstreams["orders"].seen)
    time.sleep(0.35)
    client.get("/readyz")

    assert first == [200] * 10
    assert asked_first == 1
    assert len(upstreams["orders"].seen) == len(upstreams["payments"].seen) == 2


def test_concurrent_readyz_calls_share_one_ask(upstreams):
    upstreams["orders"].delay = 0.2
    answers = []

    def probe():
        answers.append(Client().get("/readyz").status_code)

    threads = [threading.Thread(target=probe) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == [200] * 8
    assert len(upstreams["orders"].seen) == 1


def test_readyz_keeps_a_not_ready_answer_as_long(client, upstreams):
    upstreams["payments"].status = 503
    assert client.get("/readyz").status_code == 503

    upstreams["payments"].status = None

    assert client.get("/readyz").status_code == 503  # the same second: the kept answer
    assert len(upstreams["payments"].seen) == 1


def test_refused_tokens_count_against_their_address(client, upstreams, limits):
    limits.GATEWAY_AUTH, limits.GATEWAY_JWT_SECRET = "jwt", "s" * 32
    auth._verifier.cache_clear()  # built from the settings of this test
    limits.GATEWAY_RATE_LIMIT_PER_ADDRESS, limits.GATEWAY_RATE_LIMIT_ADDRESS_BURST = 0.01, 3

    answers = [
        client.get(
            "/orders", headers={"Authorization": f"Bearer bad-{n}"}, REMOTE_ADDR="203.0.113.9"
        )
        for n in range(4)
    ]

    assert [answer.status_code for answer in answers] == [401, 401, 401, 429]
    assert answers[-1].json()["violated-policies"] == ["address"]
    assert upstreams["orders"].seen == []
    auth._verifier.cache_clear()
