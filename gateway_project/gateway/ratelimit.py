"""Rate limits at the gateway: token buckets per user and per client address, in Redis.

Each bucket holds up to `burst` tokens and gains `rate` tokens a second; a request takes
one token from every bucket it falls in (its user's and its address's), or, when one of
them has less than a whole token, takes none and is refused with a 429. The buckets live
in Redis, so every gunicorn worker and every gateway instance shares them; one Lua script
(below) reads, refills and takes atomically, on the Redis server's clock, in one round
trip per request.

When Redis does not answer (within GATEWAY_RATE_LIMIT_REDIS_TIMEOUT_SECONDS), requests
pass unchecked: the shop stays open rather than refusing everybody because its limiter is
down (the services bound their own work: statement and lock time-outs, pools). Each
process then leaves Redis alone for a second, counts every request it let through
unchecked, and logs a WARNING at most once a minute (docs/security.md, Rate limits).

The answer's headers follow draft-ietf-httpapi-ratelimit-headers-11 (May 2026):
`RateLimit-Policy: "user";q=200;w=2` (the burst, and the seconds an empty bucket takes to
fill) and `RateLimit: "user";r=57;t=2` (whole tokens left; seconds until full, or on a
429 until the next token, which is also `Retry-After`).
"""

import hashlib
import ipaddress
import logging
import math
import os
import re
import threading
import time
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from redis.backoff import NoBackoff
from redis.retry import Retry

from common.api.problems import problem_json_response
from common.observability import metrics

logger = logging.getLogger(__name__)

# After a failed call, a process lets requests through without asking Redis for this long
# (so an outage costs one time-out a second per process, not one per request) ...
STORE_RETRY_SECONDS = 1.0
# ... and it says so in its log at most this often.
STORE_WARNING_EVERY_SECONDS = 60.0

# KEYS: one hash per bucket; ARGV: rate (tokens/s) and burst of each bucket, in turn.
# Returns 1 (taken) or 0 (refused), then for each bucket the tokens left, as a string
# ("%.6f": Redis would truncate a Lua number to an integer), and 1 if it had less than a
# whole token (it refused the request), else 0. A bucket's key expires when it would be full
# again: a missing key is a full bucket.
BUCKET_SCRIPT = """
local now = redis.call('TIME')
local now_us = tonumber(now[1]) * 1000000 + tonumber(now[2])
local tokens = {}
local allowed = 1
for i = 1, #KEYS do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local level = tonumber(state[1])
  local last = tonumber(state[2])
  if level == nil or last == nil then
    level = burst
    last = now_us
  end
  level = math.min(burst, level + math.max(0, now_us - last) * rate / 1000000)
  tokens[i] = level
  if level < 1 then
    allowed = 0
  end
end
local result = {allowed}
for i = 1, #KEYS do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local level = tokens[i] - allowed
  redis.call('HSET', KEYS[i], 'tokens', string.format('%.6f', level),
             'ts', string.format('%.0f', now_us))
  redis.call('PEXPIRE', KEYS[i], math.ceil((burst - level) / rate * 1000) + 1000)
  result[2 * i] = string.format('%.6f', level)
  result[2 * i + 1] = tokens[i] < 1 and 1 or 0
end
return result
"""

_PLAIN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}", re.ASCII)


@dataclass(frozen=True)
class Policy:
    name: str  # "user" or "address": the policy's name in the headers and the metric
    rate: float  # tokens a second
    burst: int  # the bucket's size

    @property
    def window(self) -> int:
        """Seconds an empty bucket takes to fill (the draft's `w`: a whole number >= 1)."""
        return max(1, math.ceil(self.burst / self.rate))

    def seconds_until(self, tokens: float, level: float) -> int:
        """Whole seconds until the bucket holds `level` tokens (0 if it does)."""
        return max(0, math.ceil((level - tokens) / self.rate - 1e-9))


def user_policy() -> Policy | None:
    rate = settings.GATEWAY_RATE_LIMIT_PER_USER
    return Policy("user", rate, settings.GATEWAY_RATE_LIMIT_BURST) if rate > 0 else None


def address_policy() -> Policy | None:
    rate = settings.GATEWAY_RATE_LIMIT_PER_ADDRESS
    burst = settings.GATEWAY_RATE_LIMIT_ADDRESS_BURST
    return Policy("address", rate, burst) if rate > 0 else None


@dataclass(frozen=True)
class Bucket:
    policy: Policy
    tokens: float  # left after this request
    short: bool = False  # less than a whole token: it refused the request

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.tokens + 1e-9))

    @property
    def retry_after(self) -> int:
        """Whole seconds until the next token, at least 1 (for Retry-After)."""
        return max(1, self.policy.seconds_until(self.tokens, 1))

    def limit_item(self, refused: bool) -> str:
        if refused:
            return f'"{self.policy.name}";r=0;t={self.retry_after}'
        until_full = self.policy.seconds_until(self.tokens, self.policy.burst)
        return f'"{self.policy.name}";r={self.remaining};t={until_full}'


@dataclass(frozen=True)
class Decision:
    """The outcome of one check. `buckets` is empty when nothing was checked (limits
    off, no user or address to count, or Redis unavailable)."""

    allowed: bool
    buckets: tuple[Bucket, ...] = ()

    @property
    def violated(self) -> list[Bucket]:
        return [bucket for bucket in self.buckets if bucket.short]

    @property
    def retry_after(self) -> int:
        return max((bucket.retry_after for bucket in self.violated), default=1)

    def headers(self) -> dict[str, str]:
        if not self.buckets:
            return {}
        headers = {
            "RateLimit-Policy": ", ".join(
                f'"{b.policy.name}";q={b.policy.burst};w={b.policy.window}' for b in self.buckets
            ),
            "RateLimit": ", ".join(b.limit_item(refused=b.short) for b in self.buckets),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers

    def annotate(self, response: HttpResponse) -> HttpResponse:
        for name, value in self.headers().items():
            response[name] = value
        return response

    def refusal(self, request: HttpRequest) -> HttpResponse:
        names = [bucket.policy.name for bucket in self.violated]
        whose = " and ".join({"user": "this user", "address": "this address"}[n] for n in names)
        response = problem_json_response(
            request,
            429,
            "rate-limited",
            f"Too many requests from {whose}; retry in {self.retry_after} s.",
            **{"violated-policies": names},
        )
        return self.annotate(response)


def check(request: HttpRequest, *, user_id: str | None) -> Decision:
    """Take a token for this request from its user's bucket (`user_id`: the id the gateway
    forwards to the services, so in JWT mode the token's subject) and its address's."""
    buckets = []
    if (policy := user_policy()) and user_id:
        buckets.append((policy, f"user:{_key_part(user_id)}"))
    if (policy := address_policy()) and (address := client_address(request)):
        buckets.append((policy, f"address:{address_key(address)}"))
    if not buckets:
        return Decision(allowed=True)
    if not _health.should_try():
        metrics.rate_limit_store_errors.inc()
        return Decision(allowed=True)
    try:
        answer = _take_token(
            keys=[settings.GATEWAY_RATE_LIMIT_KEY_PREFIX + key for _, key in buckets],
            args=[value for policy, _ in buckets for value in (policy.rate, policy.burst)],
        )
    except (redis.RedisError, OSError) as exc:
        metrics.rate_limit_store_errors.inc()
        _health.failed(exc)
        return Decision(allowed=True)
    _health.succeeded()
    decision = Decision(
        allowed=int(answer[0]) == 1,
        buckets=tuple(
            Bucket(policy, float(tokens), short=int(short) == 1)
            for (policy, _), tokens, short in zip(buckets, answer[1::2], answer[2::2], strict=True)
        ),
    )
    for bucket in decision.violated:
        metrics.rate_limited.labels(bucket.policy.name).inc()
    return decision


def client_address(request: HttpRequest) -> str:
    """REMOTE_ADDR; behind GATEWAY_RATE_LIMIT_TRUSTED_PROXIES proxies that each append
    the address they were called from to X-Forwarded-For, the entry the farthest trusted
    one appended (entries further left are whatever the client sent)."""
    address = request.META.get("REMOTE_ADDR", "")
    if proxies := settings.GATEWAY_RATE_LIMIT_TRUSTED_PROXIES:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        entries = [entry.strip() for entry in forwarded.split(",") if entry.strip()]
        if len(entries) >= proxies:
            address = entries[-proxies]
    return address


def address_key(address: str) -> str:
    """An IPv4 address as it is; an IPv6 one by its /64 (one host commonly holds a whole
    /64, so single IPv6 addresses cost nothing to rotate); anything else hashed."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return _key_part(address)
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _key_part(value: str) -> str:
    """A user id as it is when it is a plain one (what the services accept), else a hash:
    a key stays short and printable whatever a client sends."""
    if _PLAIN_ID.fullmatch(value):
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _take_token(*, keys: list[str], args: list) -> list:
    script = _script(
        settings.GATEWAY_RATE_LIMIT_REDIS_URL,
        settings.GATEWAY_RATE_LIMIT_REDIS_TIMEOUT_SECONDS,
        os.getpid(),  # a forked gunicorn worker opens connections of its own
    )
    return script(keys=keys, args=args)


@cache
def _script(url: str, timeout: float, pid: int):
    client = redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),  # one attempt: a second would double an outage's cost
        decode_responses=True,
    )
    # EVALSHA, and EVAL once when the server does not know the script yet (or forgot it).
    return client.register_script(BUCKET_SCRIPT)


class _StoreHealth:
    """Per process: whether to ask Redis now, and the outage's log lines."""

    def __init__(self):
        self._lock = threading.Lock()
        self._retry_at = 0.0
        self._warned_at: float | None = None
        self._failures = 0
        self._down = False

    def should_try(self) -> bool:
        return time.monotonic() >= self._retry_at

    def failed(self, exc: Exception) -> None:
        now = time.monotonic()
        with self._lock:
            self._down = True
            self._retry_at = now + STORE_RETRY_SECONDS
            self._failures += 1
            if self._warned_at is not None and now - self._warned_at < STORE_WARNING_EVERY_SECONDS:
                return
            self._warned_at, failures, self._failures = now, self._failures, 0
        logger.warning(
            "Rate limits off (fail open): Redis at %s does not answer (%s); requests pass "
            "unchecked, Redis is tried again every %g s (%d failure(s) since the last warning)",
            _redacted(settings.GATEWAY_RATE_LIMIT_REDIS_URL),
            exc,
            STORE_RETRY_SECONDS,
            failures,
        )

    def succeeded(self) -> None:
        if not self._down:
            return
        with self._lock:
            was_down, self._down, self._warned_at, self._failures = self._down, False, None, 0
        if was_down:
            logger.info("Rate limits on again: Redis answers")


_health = _StoreHealth()


def _redacted(url: str) -> str:
    """The URL without a password (redis://:secret@host/0)."""
    return re.sub(r"//[^@/]*@", "//***@", url)
