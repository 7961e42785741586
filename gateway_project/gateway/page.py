"""The page at `/`: a person uses the shop in a browser (docs/gateway.md).

The HTML names its script and style sheet, served as static files (WhiteNoise, as Swagger
UI's assets are), and nothing inline, so the strict Content-Security-Policy below holds.
The page calls the public API itself, with the caller's X-User-Id or bearer token: the
`data-auth-mode` attribute tells it which one the gateway expects (GATEWAY_AUTH). It is
not an operation of the API, so the OpenAPI document does not list it.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from common.api.problems import problem_json_response

ALLOWED_METHODS = ("GET", "HEAD")
# Everything from this origin only: no inline script or style, no framing, no form posting
# elsewhere (the forms are handled by the script), no plugins.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
    "object-src 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    # The page names its assets by their hashed names: a new deployment must be seen.
    "Cache-Control": "no-cache",
}


def page(request: HttpRequest) -> HttpResponse:
    if request.method not in ALLOWED_METHODS:
        allowed = ", ".join(ALLOWED_METHODS)
        response = problem_json_response(request, 405, "method-not-allowed", f"Use {allowed}.")
        response["Allow"] = allowed
        return response
    body = render_to_string("gateway/page.html", {"auth_mode": settings.GATEWAY_AUTH}).encode()
    response = HttpResponse(body, content_type="text/html; charset=utf-8", headers=PAGE_HEADERS)
    response["Content-Length"] = str(len(body))
    if request.method == "HEAD":  # the GET's headers (Content-Length too), without the body
        response.content = b""
    return response
