"""Services accept API calls only from the gateway, which adds a shared internal token.

With INTERNAL_API_TOKEN unset (development, the services' own tests) the check is off;
production settings require it (common/settings/production.py).
"""

import hmac

from django.conf import settings
from rest_framework.permissions import BasePermission

INTERNAL_TOKEN_HEADER = "X-Internal-Token"  # noqa: S105 - a header name, not a secret


class FromGateway(BasePermission):
    message = "Call this API through the gateway."

    def has_permission(self, request, view) -> bool:
        expected = settings.INTERNAL_API_TOKEN
        if not expected:
            return True
        given = request.headers.get(INTERNAL_TOKEN_HEADER, "")
        return hmac.compare_digest(given.encode(), expected.encode())
