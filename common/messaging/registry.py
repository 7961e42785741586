"""Who handles each message type: declared in code with the `handles` decorator, next to
the handler, and registered when the service's app is ready (its AppConfig.ready imports
its handlers module). A reader, and a tool, can follow a type to its handler."""

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured

from common.messaging.types import Event, MessageType

Handler = Callable[[list[Event]], None]

_handlers: dict[str, Handler] = {}


def handles(message_type: MessageType) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of `message_type` (one per type)."""

    def register(handler: Handler) -> Handler:
        if _handlers.setdefault(message_type.name, handler) is not handler:
            raise ImproperlyConfigured(f"Two handlers for message type {message_type.name!r}.")
        return handler

    return register


def handler_for(type_name: str) -> Handler | None:
    return _handlers.get(type_name)
