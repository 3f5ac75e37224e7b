"""The bus of several nodes: every domain event goes on one Redis stream, ``<prefix>:events``.

Each entry has two fields: ``node`` (the publishing process's random id) and ``event`` (the
event as JSON, :mod:`livecast.events.codec`). A node delivers what it publishes to its own
subscribers at once, as the memory bus does, then appends it; its reader follows the stream
from where it was at start (``XREAD BLOCK``, no consumer group: every node needs every event)
and delivers the other nodes' entries. A stream rather than pub/sub because a reader that loses
its connection resumes from the last entry id it saw instead of losing what was sent meanwhile,
and because a durable consumer (a consumer group: analytics, webhooks) can read the same stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from livecast.events import codec
from livecast.events.bus import Handler, MemoryBus
from livecast.events.catalog import DomainEvent

log = logging.getLogger(__name__)

STREAM_MAXLEN = 100_000  # entries kept, approximately; rooms fill longer gaps from the log
_BLOCK_MS = 2_000  # well under the client's 5 s socket timeout
_RETRY_SECONDS = 1.0


def connect(url: str) -> Redis:
    """A client for ``redis://`` (or ``rediss://``, ``unix://``) URLs; strings come back as str."""
    return Redis.from_url(url, decode_responses=True)


class RedisBus:
    def __init__(self, redis: Redis, prefix: str, *, maxlen: int = STREAM_MAXLEN) -> None:
        self.redis = redis
        self.stream = f"{prefix}:events"
        self.node = uuid.uuid4().hex
        self._maxlen = maxlen
        self._local = MemoryBus()
        self._own = MemoryBus()
        self._last = "$"
        self._reader: asyncio.Task[None] | None = None

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        return self._local.subscribe(handler)

    def subscribe_own(self, handler: Handler) -> Callable[[], None]:
        return self._own.subscribe(handler)

    async def publish(self, event: DomainEvent) -> None:
        await self._local.publish(event)
        await self._own.publish(event)
        fields = {"node": self.node, "event": codec.encode(event)}
        try:
            await self.redis.xadd(self.stream, fields, maxlen=self._maxlen, approximate=True)  # type: ignore[arg-type]
        except RedisError:
            # After commit there is nobody to refuse; other nodes' rooms fill the gap from the
            # log with their next event, and lifecycle events are re-derived on their restart.
            log.exception("could not publish to the bus", extra={"event_type": event.type})

    async def start(self) -> None:
        """Start following the stream from its current end (fails if Redis does not answer)."""
        newest = await self.redis.xrevrange(self.stream, count=1)
        self._last = str(newest[0][0]) if newest else "0-0"
        self._reader = asyncio.create_task(self._follow(), name="redis-bus")

    async def _follow(self) -> None:
        while True:
            try:
                reply = await self.redis.xread(
                    {self.stream: self._last}, count=500, block=_BLOCK_MS
                )
                entries = _entries(reply)
            except RedisError as exc:
                log.warning("bus read failed; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            for entry_id, fields in entries:
                self._last = entry_id
                await self._deliver(fields)

    async def _deliver(self, fields: dict[str, str]) -> None:
        if fields.get("node") == self.node:
            return
        try:
            event = codec.decode(fields["event"])
        except (KeyError, ValueError, TypeError):
            log.warning("undecodable bus entry skipped", extra={"entry": str(fields)[:200]})
            return
        if event is not None:
            await self._local.publish(event)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._local.close()
        await self._own.close()


def _entries(reply: Any) -> list[tuple[str, dict[str, str]]]:
    """The entries of an ``XREAD`` reply for one stream (RESP2 list or RESP3 map)."""
    if not reply:
        return []
    streams = reply.values() if isinstance(reply, dict) else (item[1] for item in reply)
    found: list[tuple[str, dict[str, str]]] = []
    for entries in streams:
        found += [(str(entry_id), cast(dict[str, str], fields)) for entry_id, fields in entries]
    return found
