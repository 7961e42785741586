"""X-Request-Id: one id per request, from the client (or the gateway) or made here.

It is echoed on the response, available as `request.request_id`, and passed on in the
headers of the events a request records, so one id follows an order across services.
"""

import re
import uuid

REQUEST_ID_HEADER = "X-Request-Id"
_VALID = re.compile(r"[A-Za-z0-9._-]{1,128}", re.ASCII)


def request_id_of(request) -> str:
    return getattr(request, "request_id", None) or uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        supplied = request.headers.get(REQUEST_ID_HEADER, "")
        request.request_id = supplied if _VALID.fullmatch(supplied) else uuid.uuid4().hex
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id
        return response
