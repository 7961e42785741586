"""Who the caller is: the client's X-User-Id (GATEWAY_AUTH=header) or the subject of a
verified bearer JWT (GATEWAY_AUTH=jwt), as Envoy's jwt_authn does in front of services that
keep reading X-User-Id (docs/security.md).

A token is verified only with a key of the kind its algorithm needs, from the gateway's own
configuration: HMAC (HS*) with GATEWAY_JWT_SECRET, RSA and EC (RS*, PS*, ES*) with the keys
of a JWKS, so a token cannot pick "none", nor HS256 with a public key as the secret. Its
`exp`/`nbf` are checked with a small leeway, `iss`/`aud` when configured, and its `sub`
must be a user id of the contract. The settings are checked when they load
(gateway_project/settings/authentication.py).
"""

import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import jwt
import urllib3
from django.conf import settings
from django.http import HttpRequest
from jwt import exceptions as errors

from common.api.headers import USER_ID_HEADER, USER_ID_PATTERN
from common.api.problems import problem_json_response

logger = logging.getLogger(__name__)

HMAC_PREFIX = "HS"
EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
MAX_JWKS_BYTES = 1024 * 1024


class Refused(Exception):
    """The request is not let through: 401 (no or bad credentials) or 503 (no keys)."""

    def __init__(self, status: int, code: str, detail: str, www_authenticate: str = ""):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.www_authenticate = www_authenticate
        self.retry_after: int | None = None

    def response(self, request: HttpRequest):
        response = problem_json_response(request, self.status, self.code, self.detail)
        if self.www_authenticate:
            response["WWW-Authenticate"] = self.www_authenticate
        if self.retry_after is not None:
            response["Retry-After"] = str(self.retry_after)
        return response


def missing_token() -> Refused:
    # RFC 6750 3.1: a request without credentials gets the scheme, and no error code.
    return Refused(
        401, "authentication-required", "Send a token: Authorization: Bearer <JWT>.", "Bearer"
    )


def invalid_token(description: str) -> Refused:
    # Our own fixed texts only (never a value from the token): a quoted-string stays valid.
    quoted = description.replace("\\", "'").replace('"', "'")
    challenge = f'Bearer error="invalid_token", error_description="{quoted}"'
    return Refused(401, "invalid-token", description, challenge)


def caller(request: HttpRequest) -> str | None:
    """The user id the services get as X-User-Id: in header mode the client's header as
    sent (the services check it); in jwt mode the `sub` of the verified bearer token, and a
    client's own X-User-Id is dropped. Raises Refused."""
    if settings.GATEWAY_AUTH != "jwt":
        return request.headers.get(USER_ID_HEADER)
    try:
        return _verifier(JwtConfig.from_settings()).verify(bearer_token(request))
    except Refused as refusal:
        logger.info("Authentication refused (%s): %s", refusal.code, refusal.detail)
        raise


def bearer_token(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        raise missing_token()  # none, or another scheme: no bearer credentials
    token = token.strip()
    if not token or " " in token:
        raise invalid_token("The Authorization header is not 'Bearer <JWT>'.")
    return token


@dataclass(frozen=True)
class JwtConfig:
    algorithms: tuple[str, ...]
    secret: str = field(repr=False)
    jwks_file: str
    jwks_url: str
    issuer: str
    audience: str
    leeway: float
    jwks_timeout: float
    jwks_refresh: float
    jwks_cache: float

    @classmethod
    def from_settings(cls) -> "JwtConfig":
        return cls(
            algorithms=tuple(settings.GATEWAY_JWT_ALGORITHMS),
            secret=settings.GATEWAY_JWT_SECRET,
            jwks_file=settings.GATEWAY_JWKS_FILE,
            jwks_url=settings.GATEWAY_JWKS_URL,
            issuer=settings.GATEWAY_JWT_ISSUER,
            audience=settings.GATEWAY_JWT_AUDIENCE,
            leeway=settings.GATEWAY_JWT_LEEWAY_SECONDS,
            jwks_timeout=settings.GATEWAY_JWKS_TIMEOUT_SECONDS,
            jwks_refresh=settings.GATEWAY_JWKS_REFRESH_SECONDS,
            jwks_cache=settings.GATEWAY_JWKS_CACHE_SECONDS,
        )


@lru_cache(maxsize=8)
def _verifier(config: "JwtConfig") -> "TokenVerifier":
    """One verifier (and JWKS cache) per configuration and process."""
    return TokenVerifier(config)


class TokenVerifier:
    def __init__(self, config: JwtConfig):
        self.config = config
        self.jwks: JwksKeys | None = None
        if config.jwks_file:
            path = Path(config.jwks_file)
            self.jwks = JwksKeys(path.read_bytes, config, name=str(path))
        elif config.jwks_url:
            self.jwks = JwksKeys(url_loader(config.jwks_url, config.jwks_timeout), config)

    def verify(self, token: str) -> str:
        """The token's subject, or Refused saying what is wrong with the token."""
        try:
            header = jwt.get_unverified_header(token)
        except errors.PyJWTError:  # not a JWT, or a header PyJWT refuses (kid, crit)
            raise invalid_token("The token is not a well-formed JWT.") from None
        algorithm = header.get("alg")
        if algorithm not in self.config.algorithms:  # "none" and HS256-with-a-public-key too
            accepted = ", ".join(self.config.algorithms)
            raise invalid_token(f"The token's algorithm is not accepted (accepted: {accepted}).")
        try:
            claims = jwt.decode(
                token,
                self._key(header, algorithm),
                algorithms=[algorithm],
                issuer=self.config.issuer or None,
                audience=self.config.audience or None,
                leeway=self.config.leeway,
                options={"require": ["exp", "sub"], "enforce_minimum_key_length": True},
            )
        except errors.PyJWTError as exc:  # InvalidKeyError is no InvalidTokenError
            raise invalid_token(_description(exc)) from None
        subject = claims["sub"]
        if not USER_ID_PATTERN.fullmatch(subject):
            raise invalid_token(
                "The token's subject (sub) is not a user id: 1-64 letters, digits, '-', '_' or '.'."
            )
        return subject

    def _key(self, header: dict, algorithm: str):
        if algorithm.startswith(HMAC_PREFIX):
            return self.config.secret.encode()
        if self.jwks is None:
            raise invalid_token("The token's algorithm is not accepted.")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise invalid_token("The token's key id (kid) is not a string.")
        candidates = [key for key in self.jwks.keys(kid) if key.fits(algorithm)]
        if kid is not None and not candidates:
            raise invalid_token("The token's key id (kid) names no key of its algorithm.")
        if len(candidates) != 1:
            raise invalid_token("The token names no key id (kid), and no single key fits it.")
        return candidates[0].key


def _description(exc: errors.PyJWTError) -> str:
    match exc:
        case errors.ExpiredSignatureError():
            return "The token has expired."
        case errors.ImmatureSignatureError():
            return "The token is not valid yet (nbf or iat in the future)."
        case errors.InvalidIssuerError():
            return "The token's issuer (iss) is not accepted."
        case errors.InvalidAudienceError():
            return "The token's audience (aud) is not accepted."
        case errors.MissingRequiredClaimError():
            return f"The token has no {exc.claim} claim."
        case errors.InvalidSignatureError():
            return "The token's signature does not verify."
        case errors.InvalidSubjectError():
            return "The token's subject (sub) is not a string."
        case errors.InvalidKeyError():
            return "The token's key is not acceptable (too short, or of another kind)."
        case errors.DecodeError():
            return "The token is not a well-formed JWT."
    return "The token is not valid."


@dataclass(frozen=True)
class Jwk:
    """A public signing key of a JWKS."""

    kid: str | None
    kty: str
    crv: str | None
    alg: str | None
    key: object

    def fits(self, algorithm: str) -> bool:
        if self.alg and self.alg != algorithm:
            return False
        if algorithm.startswith(("RS", "PS")):
            return self.kty == "RSA"
        return self.kty == "EC" and self.crv == EC_CURVES.get(algorithm)


def parse_jwks(document: bytes) -> tuple[Jwk, ...]:
    """The RSA and EC signing keys of a JWKS document; others (symmetric, encryption,
    unreadable) are skipped. ValueError when none is usable."""
    data = json.loads(document)
    if not (isinstance(data, dict) and isinstance(data.get("keys"), list)):
        raise ValueError("not a JWKS ({'keys': [...]})")
    keys = []
    for item in data["keys"]:
        if not isinstance(item, dict) or item.get("kty") not in ("RSA", "EC"):
            continue
        if item.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(item).key
        except (errors.PyJWTError, ValueError, TypeError, KeyError) as exc:
            logger.warning("JWKS: skipped key %r: %s", item.get("kid"), exc)
            continue
        kid = item.get("kid")
        keys.append(
            Jwk(
                kid=kid if isinstance(kid, str) else None,
                kty=item["kty"],
                crv=item.get("crv"),
                alg=item.get("alg"),
                # A JWKS that carries a private key by mistake: verify with its public half.
                key=key.public_key() if hasattr(key, "private_numbers") else key,
            )
        )
    if not keys:
        raise ValueError("no usable RSA or EC signing key")
    return tuple(keys)


def url_loader(url: str, timeout: float) -> Callable[[], bytes]:
    pool = urllib3.PoolManager(num_pools=1, maxsize=1, block=False)

    def load() -> bytes:
        response = pool.request(
            "GET",
            url,
            headers={"Accept": "application/json"},
            timeout=urllib3.Timeout(total=timeout),
            retries=False,
            redirect=False,
            preload_content=False,
        )
        try:
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            body = response.read(MAX_JWKS_BYTES + 1)
            if len(body) > MAX_JWKS_BYTES:
                raise ValueError(f"larger than {MAX_JWKS_BYTES} bytes")
            return body
        finally:
            response.release_conn()

    return load


def _now() -> float:
    return time.monotonic()


class JwksKeys:
    """The keys of a JWKS (a file or a URL), cached: loaded on first use, again when older
    than GATEWAY_JWKS_CACHE_SECONDS or when a token names an unknown kid (a rotation), but
    never more than once per GATEWAY_JWKS_REFRESH_SECONDS, so made-up kids cannot hammer
    the JWKS server. A failed load keeps the keys known so far (logged)."""

    def __init__(
        self,
        load: Callable[[], bytes],
        config: JwtConfig,
        *,
        name: str = "",
    ):
        self._load = load
        self._name = name or config.jwks_url
        self._refresh_interval, self._max_age = config.jwks_refresh, config.jwks_cache
        self._lock = threading.Lock()
        self._keys: tuple[Jwk, ...] | None = None  # None: never loaded
        self._loaded_at = self._attempted_at = -math.inf

    def keys(self, kid: str | None) -> list[Jwk]:
        """The keys with this kid (all of them for None)."""
        fresh = _now() - self._loaded_at < self._max_age
        if not (fresh and self._knows(kid)):
            if self._knows(kid):
                # Known but old: one thread refreshes, the others go on with what they have.
                if self._lock.acquire(blocking=False):
                    try:
                        self._refresh()
                    finally:
                        self._lock.release()
            else:
                with self._lock:
                    if not self._knows(kid):  # unless another thread just loaded it
                        self._refresh()
        keys = self._keys
        if keys is None:
            wait = self._refresh_interval - (_now() - self._attempted_at)
            refusal = Refused(
                503,
                "authentication-unavailable",
                "The keys that verify tokens cannot be loaded now; retry shortly.",
            )
            refusal.retry_after = max(1, math.ceil(wait))
            raise refusal
        return [key for key in keys if kid is None or key.kid == kid]

    def _knows(self, kid: str | None) -> bool:
        keys = self._keys
        return keys is not None and (kid is None or any(key.kid == kid for key in keys))

    def _refresh(self) -> None:
        now = _now()
        if now - self._attempted_at < self._refresh_interval:
            return
        self._attempted_at = now
        try:
            self._keys = parse_jwks(self._load())
        except (OSError, ValueError, urllib3.exceptions.HTTPError) as exc:
            logger.warning("JWKS %s not loaded (keeping the keys known): %s", self._name, exc)
            return
        self._loaded_at = now
        logger.info("JWKS %s loaded: %d keys", self._name, len(self._keys))


# The public API document in jwt mode: bearer authentication instead of X-User-Id.

BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": (
        "A JWT whose `sub` is the caller's user id (1-64 letters, digits, '-', '_' or '.'); "
        "the gateway verifies it and names the user to the services. An X-User-Id header "
        "is ignored."
    ),
}
# The document's own words for header mode, and what jwt mode says instead.
HEADER_MODE_SENTENCE = re.compile(r"Every call names its user in X-User-Id[^.;]*")
BEARER_SENTENCE = (
    "Every call carries `Authorization: Bearer <JWT>`, whose `sub` names its user (the "
    "gateway ignores X-User-Id)"
)
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}


@lru_cache(maxsize=4)
def openapi_for_mode(document: bytes, mode: str) -> bytes:
    """The OpenAPI document (gateway/openapi.json, which describes header mode) as served
    in `mode`: in jwt mode every operation requires bearerAuth, loses its X-User-Id
    parameter and documents the 401."""
    if mode != "jwt":
        return document
    spec = json.loads(document)
    components = spec.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearerAuth"] = BEARER_SCHEME
    problem = (
        {"$ref": "#/components/schemas/Problem"}
        if "Problem" in components.get("schemas", {})
        else PROBLEM_SCHEMA
    )
    for item in spec.get("paths", {}).values():
        _drop_user_id(item, components)
        for method, operation in item.items():
            if method in HTTP_METHODS:
                _drop_user_id(operation, components)
                operation["security"] = [{"bearerAuth": []}]
                operation["responses"]["401"] = _unauthorized(operation, problem)
    info = spec.setdefault("info", {})
    description, told = HEADER_MODE_SENTENCE.subn(BEARER_SENTENCE, info.get("description", ""))
    info["description"] = description if told else f"{description}\n\n{BEARER_SENTENCE}.".strip()
    return (json.dumps(spec, indent=2, sort_keys=True) + "\n").encode()


def _drop_user_id(node: dict, components: dict) -> None:
    def is_user_id(parameter: dict) -> bool:
        ref = parameter.get("$ref", "")
        if ref.startswith("#/components/parameters/"):
            parameter = components.get("parameters", {}).get(ref.rpartition("/")[2], {})
        return (
            parameter.get("in") == "header"
            and parameter.get("name", "").lower() == USER_ID_HEADER.lower()
        )

    if "parameters" in node:
        node["parameters"] = [p for p in node["parameters"] if not is_user_id(p)]


def _unauthorized(operation: dict, problem: dict) -> dict:
    expired = invalid_token("The token has expired.")
    headers = {
        "WWW-Authenticate": {
            "description": 'The Bearer challenge (RFC 6750); with error="invalid_token" '
            "and an error_description when a token was sent.",
            "required": True,
            "schema": {"type": "string"},
            "example": expired.www_authenticate,
        }
    }
    # Headers every answer carries (X-Request-Id), as the other responses document them.
    for response in operation.get("responses", {}).values():
        for name, header in response.get("headers", {}).items():
            if name.lower() == "x-request-id":
                headers.setdefault(name, header)
    examples = {}
    for refusal in (missing_token(), expired):
        examples[refusal.code] = {
            "summary": refusal.code,
            "value": {
                "type": f"urn:problem:{refusal.code}",
                "title": "Unauthorized",
                "status": 401,
                "detail": refusal.detail,
            },
        }
    return {
        "description": "Unauthorized: no bearer token, or one that is not valid (signature, "
        "algorithm, expiry, issuer, audience, subject).",
        "headers": headers,
        "content": {"application/problem+json": {"schema": problem, "examples": examples}},
    }
