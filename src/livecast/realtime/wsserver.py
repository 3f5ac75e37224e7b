"""The room WebSocket on the wire: uvicorn hands upgrades here instead of through ASGI.

uvicorn parses the HTTP request and, for an upgrade, gives the connection to its ``ws``
protocol class; ``livecast serve`` names this one. It does the RFC 6455 handshake for
``/ws/streams/{stream_id}`` and serves :class:`~livecast.realtime.socket.RoomSocket` straight
on the transport. Why not the ASGI route (which stays, for tests and other servers): a room
sends the same frame to every client each tick, and here that is one ``transport.write`` of
bytes encoded once per room, with no per-client task wake-up, ASGI message or frame encoding;
and a connection costs a few kilobytes instead of the ~40 KB of uvicorn's WebSocket stack.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict, deque
from typing import Any, cast

from starlette.datastructures import QueryParams

from livecast.protocols import websocket as ws
from livecast.realtime.socket import RoomSocket

log = logging.getLogger(__name__)

ROOM_PATH = re.compile(r"^/ws/streams/([^/]+)$")
INBOX_LIMIT = 64  # messages read ahead of the handler; beyond it, reading pauses
_FRAMES: OrderedDict[str, bytes] = OrderedDict()  # recent texts' frames, shared by clients
_FRAMES_KEPT = 16


def encoded(text: str) -> bytes:
    """The text frame of ``text``; a tick's frame is encoded once for all the room's clients."""
    found = _FRAMES.get(text)
    if found is None:
        found = _FRAMES[text] = ws.text_frame(text)
        if len(_FRAMES) > _FRAMES_KEPT:
            _FRAMES.popitem(last=False)
    return found


class RoomWebSocketProtocol(asyncio.Protocol):
    """One client connection, from the upgrade request to the close (a uvicorn ``ws`` class)."""

    def __init__(self, config: Any, server_state: Any, app_state: Any = None, **_: Any) -> None:
        self.hub = config.app.state.realtime
        self.connections: set[Any] = server_state.connections
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.reader = ws.FrameReader()
        self.task: asyncio.Task[None] | None = None
        self.closed = False
        self._request = bytearray()
        self._upgraded = False
        self._inbox: deque[str | bytes | None] = deque()
        self._arrived: asyncio.Future[None] | None = None
        self._paused_reading = False
        self._writable: asyncio.Future[None] | None = None
        self._close_sent = False

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "?"
        self.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if not self._upgraded:
            self._handshake(data)
            return
        try:
            events = self.reader.receive(data)
        except ws.WebSocketError as exc:
            log.warning(
                "closing a WebSocket that broke the protocol",
                extra={"peer": self.peer, "code": exc.code, "reason": exc.reason},
            )
            self._fail(exc.code, exc.reason)
            return
        for event in events:
            self._event(event)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.connections.discard(self)
        self._deliver(None)
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def shutdown(self) -> None:
        """uvicorn is stopping: tell the client to come back later."""
        self._fail(ws.GOING_AWAY, "server shutting down")

    # -- the handshake --------------------------------------------------------------------

    def _handshake(self, data: bytes) -> None:
        self._request += data
        end = self._request.find(b"\r\n\r\n")
        if end < 0:
            if len(self._request) > ws.MAX_REQUEST_BYTES:
                self._refuse(431, "request headers too large")
            return
        try:
            upgrade = ws.parse_upgrade(bytes(self._request[: end + 2]))
        except ws.HandshakeError as exc:
            self._refuse(exc.status, exc.reason)
            return
        match = ROOM_PATH.match(upgrade.path)
        if match is None:
            self._refuse(404, "no WebSocket here; rooms are at /ws/streams/{stream_id}")
            return
        rest = bytes(self._request[end + 4 :])
        self._request.clear()
        self._upgraded = True
        assert self.transport is not None
        self.transport.write(ws.handshake_response(upgrade.key))
        session = RoomSocket(self.hub, self, QueryParams(upgrade.query), upgrade.headers)
        self.task = asyncio.get_running_loop().create_task(self._serve(session, match[1]))
        if rest:
            self.data_received(rest)

    def _refuse(self, status: int, reason: str) -> None:
        log.info("WebSocket upgrade refused", extra={"peer": self.peer, "status": status})
        assert self.transport is not None
        self.transport.write(ws.refusal_response(status, reason))
        self.transport.close()

    async def _serve(self, session: RoomSocket, stream_id: str) -> None:
        try:
            await session.run(stream_id)
        except Exception:
            log.exception("room socket failed", extra={"peer": self.peer})
            self._fail(ws.INTERNAL_ERROR, "internal error")
        finally:
            if not self.closed:
                await self.close(ws.NORMAL, "")

    # -- frames from the client -----------------------------------------------------------

    def _event(self, event: ws.Event) -> None:
        if isinstance(event, ws.Message):
            self._deliver(event.text if event.text is not None else event.data)
        elif isinstance(event, ws.Ping):
            self._write(ws.frame(ws.OP_PONG, event.payload))
        elif isinstance(event, ws.Close):
            code = ws.NORMAL if event.code == 1005 else event.code
            self._fail(code, "")  # echo the close, then hang up

    def _deliver(self, item: str | bytes | None) -> None:
        self._inbox.append(item)
        if self._arrived is not None and not self._arrived.done():
            self._arrived.set_result(None)
        if len(self._inbox) >= INBOX_LIMIT and self.transport and not self._paused_reading:
            self._paused_reading = True
            self.transport.pause_reading()

    def _fail(self, code: int, reason: str) -> None:
        self._write(ws.close_frame(code, reason))
        self._close_sent = True
        if self.transport is not None:
            self.transport.close()

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self._close_sent and not self.closed:
            self.transport.write(data)

    # -- the room handler's Socket --------------------------------------------------------

    def try_send(self, text: str) -> bool:
        """Write ``text`` now if the transport takes it without waiting."""
        if self.closed or self._close_sent:
            raise ConnectionError("the client is gone")
        if self._writable is not None and not self._writable.done():
            return False
        self._write(encoded(text))
        return True

    async def send(self, text: str) -> None:
        while not self.try_send(text):
            assert self._writable is not None
            await self._writable

    async def receive(self) -> str | bytes | None:
        while not self._inbox:
            if self.closed:
                return None
            self._arrived = asyncio.get_running_loop().create_future()
            await self._arrived
        item = self._inbox.popleft()
        if self._paused_reading and len(self._inbox) < INBOX_LIMIT // 2 and self.transport:
            self._paused_reading = False
            self.transport.resume_reading()
        return item

    async def close(self, code: int, reason: str) -> None:
        if not self.closed and not self._close_sent:
            self._fail(code, reason)
