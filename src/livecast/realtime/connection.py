"""One client of a room: its identity and its bounded send queue.

The room hands every connection the same encoded frame each tick; a connection only queues a
reference. A writer task sends the queue in order. When the queue is long (the client reads
slower than the room talks) the writer sends the frame's sampled variant instead: every
system, moderation and pinned event, the latest counts, and a few of the comments. When the
queue reaches its hard bound the client is disconnected with a close reason that says where
to resume; the log has everything it missed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from livecast.realtime import protocol
from livecast.realtime.eventlog import PRIORITY_TYPES, WireEvent
from livecast.realtime.policy import Sender
from livecast.realtime.protocol import CloseCode

if TYPE_CHECKING:
    from livecast.storage.models import User

SAMPLED_COMMENTS = 3
_COALESCED = ("reactions", "counters", "viewer_update")  # only the latest of each matters


class Transport(Protocol):
    """The socket side of a connection: livecast's own WebSocket protocol, or Starlette's."""

    async def send(self, text: str) -> None: ...

    def try_send(self, text: str) -> bool:
        """Send now if that needs no waiting; False to queue. ConnectionError: gone."""
        ...

    async def close(self, code: int, reason: str) -> None: ...


class Frame(Protocol):
    last_seq: int

    def text(self, lagging: bool) -> str: ...


class Personal:
    """A message for one client (welcome, ack, error): never sampled."""

    __slots__ = ("_text",)
    last_seq = 0

    def __init__(self, text: str) -> None:
        self._text = text

    def text(self, lagging: bool) -> str:
        return self._text


class TickFrame:
    """One tick of a room, encoded once; the sampled variant is encoded once, if ever needed."""

    __slots__ = ("_full", "_sampled", "events", "last_seq")

    def __init__(self, events: list[WireEvent]) -> None:
        self.events = events
        self.last_seq = max((e.get("seq") or 0 for e in events), default=0)
        self._full = protocol.batch(events)
        self._sampled: str | None = None

    def text(self, lagging: bool) -> str:
        if not lagging:
            return self._full
        if self._sampled is None:
            self._sampled = self._sample()
        return self._sampled

    def _sample(self) -> str:
        comments = [e for e in self.events if e["type"] == "comment"]
        latest = {e["type"]: id(e) for e in self.events if e["type"] in _COALESCED}
        keep_comments = {id(e) for e in comments[-SAMPLED_COMMENTS:]}
        kept = [
            e
            for e in self.events
            if e["type"] in PRIORITY_TYPES
            or id(e) in keep_comments
            or latest.get(e["type"]) == id(e)
        ]
        if len(kept) == len(self.events):
            return self._full
        skipped = len(comments) - len(keep_comments)
        return protocol.batch(kept, sampled=True, skipped=skipped)


class Connection:
    def __init__(
        self,
        transport: Transport,
        sender: Sender,
        session_id: str,
        *,
        soft_limit: int,
        hard_limit: int,
        user: User | None = None,
    ) -> None:
        self.transport = transport
        self.sender = sender
        self.session_id = session_id
        self.user = user
        self.soft_limit = soft_limit
        self.hard_limit = hard_limit
        self.last_seq = 0  # the highest seq sent to the client
        self.position = 0  # the room's event position up to which this client was handed events
        self.sampled_frames = 0
        self.close_code: int = CloseCode.NORMAL
        self.close_reason = ""
        # Resolved when the connection is told to close: a bare future, not an Event and a
        # task waiting on it, since every connection holds one.
        self.closing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue: deque[Frame] = deque()
        self._wake = asyncio.Event()
        # After the replay, a frame for an idle connection is written at once, without a
        # wake-up of the send loop: the room's broadcast is then one write per client.
        self._direct = False
        self._sending = False

    @property
    def backlog(self) -> int:
        return len(self._queue)

    def push(self, frame: Frame) -> None:
        """Queue ``frame``; a client whose queue is full is disconnected instead."""
        if self.closing.done():
            return
        if self._direct and not self._queue and not self._sending:
            try:
                if self.transport.try_send(frame.text(False)):
                    self._sent(frame)
                    return
            except ConnectionError:
                self.close(CloseCode.GOING_AWAY, "")
                return
        if len(self._queue) >= self.hard_limit:
            reason = f"too slow; reconnect with since={self.last_seq}"
            self.close(CloseCode.TOO_SLOW, reason)
            return
        self._queue.append(frame)
        self._wake.set()

    def send(self, text: str) -> None:
        self.push(Personal(text))

    def close(self, code: int, reason: str) -> None:
        """Ask for the connection to close; the socket handler does it."""
        if not self.closing.done():
            self.close_code, self.close_reason = code, reason
            self.closing.set_result(None)

    async def send_loop(self, first: Callable[[], Awaitable[None]] | None = None) -> None:
        """Run ``first`` (the replay), then send the queue in order, forever."""
        if first is not None:
            await first()
        self._direct = True
        queue = self._queue
        while True:
            while not queue:
                self._wake.clear()
                await self._wake.wait()
            frame = queue.popleft()
            lagging = len(queue) >= self.soft_limit
            if lagging:
                self.sampled_frames += 1
            self._sending = True
            try:
                await self.transport.send(frame.text(lagging))
            finally:
                self._sending = False
            self._sent(frame)

    def _sent(self, frame: Frame) -> None:
        if frame.last_seq > self.last_seq:
            self.last_seq = frame.last_seq
