"""A development token for JWT mode: HS256 with GATEWAY_JWT_SECRET, the configured issuer
and audience, for one user id. Prints the token only, for `TOKEN=$(... mint_token u-1)`."""

import time
import uuid

import jwt
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from common.api.headers import USER_ID_PATTERN


class Command(BaseCommand):
    help = "Print an HS256 JWT for USER_ID, signed with GATEWAY_JWT_SECRET (development)."

    def add_arguments(self, parser):
        parser.add_argument("user_id", help="the token's sub: 1-64 letters, digits, -, _, .")
        parser.add_argument(
            "--minutes", type=int, default=60, help="valid for so many minutes (default 60)"
        )

    def handle(self, *args, user_id: str, minutes: int, **options):
        if not settings.GATEWAY_JWT_SECRET:
            raise CommandError("Set GATEWAY_JWT_SECRET (32+ bytes) in .env first.")
        if not USER_ID_PATTERN.fullmatch(user_id):
            raise CommandError("A user id is 1-64 letters, digits, '-', '_' or '.'.")
        if minutes < 1:
            raise CommandError("--minutes must be at least 1.")
        if "HS256" not in settings.GATEWAY_JWT_ALGORITHMS:
            self.stderr.write("Warning: GATEWAY_JWT_ALGORITHMS does not accept HS256.")
        now = int(time.time())
        claims = {"sub": user_id, "iat": now, "exp": now + 60 * minutes, "jti": uuid.uuid4().hex}
        if settings.GATEWAY_JWT_ISSUER:
            claims["iss"] = settings.GATEWAY_JWT_ISSUER
        if settings.GATEWAY_JWT_AUDIENCE:
            claims["aud"] = settings.GATEWAY_JWT_AUDIENCE
        self.stdout.write(jwt.encode(claims, settings.GATEWAY_JWT_SECRET, algorithm="HS256"))
