"""The event bus: services publish domain events, components subscribe.

``memory://`` is the in-process bus of the embedded default. ``redis://`` (see
:mod:`livecast.events.redis_bus`) carries the same events to every node sharing the Redis.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from livecast.events.catalog import DomainEvent

log = logging.getLogger(__name__)

Handler = Callable[[DomainEvent], Awaitable[None]]


class EventBus(Protocol):
    async def publish(self, event: DomainEvent) -> None: ...

    def subscribe(self, handler: Handler) -> Callable[[], None]: ...

    def subscribe_own(self, handler: Handler) -> Callable[[], None]:
        """Like ``subscribe``, but only for events this process published: a subscriber that
        writes each event somewhere shared (the event table, webhooks) must see it once."""
        ...

    async def close(self) -> None: ...


class MemoryBus:
    """Delivers each event to every subscriber in order; a failing subscriber is logged only."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        self._handlers.append(handler)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):  # the bus may have closed first
                self._handlers.remove(handler)

        return unsubscribe

    def subscribe_own(self, handler: Handler) -> Callable[[], None]:
        return self.subscribe(handler)  # one process: every event is its own

    async def publish(self, event: DomainEvent) -> None:
        for handler in list(self._handlers):
            try:
                await handler(event)
            except Exception:
                log.exception("event handler failed", extra={"event_type": event.type})

    async def close(self) -> None:
        self._handlers.clear()
