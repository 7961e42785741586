# The order is the point: the gateway's base first, then the production tightening on top.
# ruff: noqa: I001
from gateway_project.settings.base import *
from common.settings.production import *

SILENCED_SYSTEM_CHECKS = [
    *SILENCED_SYSTEM_CHECKS,
    # W003, no CsrfViewMiddleware: CSRF abuses a browser's cookies, and the gateway has none
    # to abuse (no sessions, no login, no admin); a caller is named by its X-User-Id header.
    "security.W003",
]
