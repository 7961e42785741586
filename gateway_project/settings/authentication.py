"""How the gateway authenticates callers (GATEWAY_AUTH and GATEWAY_JWT_*, GATEWAY_JWKS_*),
checked when the settings load: a gateway with a weak secret, no keys, or an algorithm
that does not fit its keys refuses to start instead of accepting forged tokens or refusing
every caller. The verification itself is gateway/auth.py (docs/security.md).
"""

import json
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from common.settings.env import env

MODES = ("header", "jwt")
# HMAC algorithms verify with GATEWAY_JWT_SECRET only; the others with the JWKS only, so a
# token's header can never make a public key serve as an HMAC secret.
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
PUBLIC_KEY_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
MIN_SECRET_BYTES = 32  # RFC 7518 3.2: an HS256 key at least as long as its hash


def seconds(name: str, default: float, *, minimum: float = 0.0, maximum: float | None = None):
    """A number of seconds from the environment, refused unless within its bounds."""
    try:
        value = env.float(name, default=default)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number of seconds.") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"at least {minimum:g}" + (f" and at most {maximum:g}" if maximum else "")
        raise ImproperlyConfigured(f"{name} must be {bounds} seconds (is {value:g}).")
    return value


def checked_jwt_algorithms(
    *,
    mode: str,
    secret: str,
    jwks_file: str,
    jwks_url: str,
    algorithms: list[str],
) -> list[str]:
    """The algorithms JWT mode accepts (by default those of the configured keys), once the
    whole configuration is checked; ImproperlyConfigured says what is wrong."""
    if mode not in MODES:
        raise ImproperlyConfigured(f"GATEWAY_AUTH must be one of {', '.join(MODES)}.")
    if secret and len(secret.encode()) < MIN_SECRET_BYTES:
        raise ImproperlyConfigured(
            f"GATEWAY_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes (use e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))')."
        )
    if mode == "header":
        return ["HS256"] if secret else []  # for mint_token; nothing is verified
    if jwks_file and jwks_url:
        raise ImproperlyConfigured("Set GATEWAY_JWKS_FILE or GATEWAY_JWKS_URL, not both.")
    if jwks_file:
        _check_jwks_file(jwks_file)
    if jwks_url and urlsplit(jwks_url).scheme not in ("http", "https"):
        raise ImproperlyConfigured("GATEWAY_JWKS_URL must be an http(s) URL.")
    has_jwks = bool(jwks_file or jwks_url)
    algorithms = [name.strip() for name in algorithms if name.strip()]  # "HS256, RS256"
    if not (secret or has_jwks):
        raise ImproperlyConfigured(
            "GATEWAY_AUTH=jwt needs GATEWAY_JWT_SECRET (HS256) or GATEWAY_JWKS_FILE / "
            "GATEWAY_JWKS_URL (RS256, ES256)."
        )
    if not algorithms:
        return [*(["HS256"] if secret else []), *(["RS256", "ES256"] if has_jwks else [])]
    for algorithm in algorithms:
        if algorithm in HMAC_ALGORITHMS and not secret:
            raise ImproperlyConfigured(f"{algorithm} needs GATEWAY_JWT_SECRET.")
        if algorithm in HMAC_ALGORITHMS and len(secret.encode()) < int(algorithm[2:]) // 8:
            raise ImproperlyConfigured(
                f"{algorithm} needs a GATEWAY_JWT_SECRET of {int(algorithm[2:]) // 8}+ bytes."
            )
        if algorithm in PUBLIC_KEY_ALGORITHMS and not has_jwks:
            raise ImproperlyConfigured(f"{algorithm} needs GATEWAY_JWKS_FILE or GATEWAY_JWKS_URL.")
        if algorithm not in HMAC_ALGORITHMS | PUBLIC_KEY_ALGORITHMS:
            # "none" (unsigned tokens) among them.
            supported = ", ".join(sorted(HMAC_ALGORITHMS | PUBLIC_KEY_ALGORITHMS))
            raise ImproperlyConfigured(
                f"GATEWAY_JWT_ALGORITHMS: {algorithm!r} is not accepted; use {supported}."
            )
    return list(dict.fromkeys(algorithms))


def _check_jwks_file(path: str) -> None:
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ImproperlyConfigured(f"GATEWAY_JWKS_FILE {path}: {exc}") from None
    if not (isinstance(document, dict) and isinstance(document.get("keys"), list)):
        raise ImproperlyConfigured(f"GATEWAY_JWKS_FILE {path}: not a JWKS ({{'keys': [...]}}).")
