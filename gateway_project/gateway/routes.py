"""The route table: the public endpoints of the contract, and nothing else.

A request is forwarded to the path rebuilt from its route (never to the path the client
sent), so dot segments, encoded slashes or absolute URLs cannot reach any other upstream
path: anything that does not match a route is the gateway's own JSON 404.
"""

from dataclasses import dataclass

from django.urls import register_converter


class PublicIdConverter:
    """An order id as a client may write one: letters, digits and dashes (a UUID fits).
    "..", "%2F" (decoded to "/") and the like do not match, so they are 404s."""

    regex = "[A-Za-z0-9-]{1,64}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(PublicIdConverter, "public_id")


@dataclass(frozen=True)
class Route:
    name: str
    path: str  # Django path pattern, also the public path of the contract
    upstream: str  # key of settings.UPSTREAMS
    methods: tuple[str, ...]
    # The service answers a POST with an Idempotency-Key once and replays that answer, so
    # the gateway may send it twice (upstream.call).
    replays_by_idempotency_key: bool = False
    # Live status (gateway/live/): GET answers once the order is terminal when asked to
    # `wait`; or the route is the order's event stream, read from the order's own route.
    waits: bool = False
    streams: bool = False

    @property
    def allowed_methods(self) -> tuple[str, ...]:
        """Its methods, and HEAD wherever GET is (answered as GET is, without the body)."""
        return (*self.methods, "HEAD") if "GET" in self.methods else self.methods

    def upstream_path(self, **kwargs: str) -> str:
        # An event stream reads its order (the stream is the gateway's, not a service's).
        path = self.path.removesuffix("/events") if self.streams else self.path
        for name, value in kwargs.items():
            path = path.replace(f"<public_id:{name}>", value)
        return f"/{path}"


ROUTES = [
    Route("account-create", "accounts", "payments", ("POST",)),
    Route("account-deposit", "accounts/deposit", "payments", ("POST",), True),
    Route("account-balance", "accounts/balance", "payments", ("GET",)),
    Route("orders", "orders", "orders", ("GET", "POST"), True),
    Route("order", "orders/<public_id:order_id>", "orders", ("GET",), waits=True),
    Route("order-events", "orders/<public_id:order_id>/events", "orders", ("GET",), streams=True),
]
