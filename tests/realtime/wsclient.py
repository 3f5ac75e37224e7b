"""An in-memory WebSocket client for an ASGI app, in the test's own event loop.

It speaks the ASGI WebSocket messages straight to the app (no sockets, no threads), so the
app's database engine stays on one loop. ``capacity`` bounds the frames the client holds
unread: when it is full the app's ``send`` waits, as it would on a full TCP buffer. That is
how the slow-consumer tests make a client slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.types import ASGIApp, Message

Json = dict[str, Any]


class Closed(Exception):
    """The server closed the connection."""


class WsClient:
    def __init__(
        self,
        app: ASGIApp,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        capacity: int = 100_000,
    ) -> None:
        self.app = app
        self.path = path
        self.query = {k: str(v) for k, v in (query or {}).items() if v is not None}
        self.headers = headers or {}
        self.messages: list[Json] = []  # every message received, in order
        self.raw: list[str] = []
        self.close_code: int | None = None
        self.close_reason = ""
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[str] = asyncio.Queue(maxsize=capacity)
        self._accepted = asyncio.Event()
        self._closed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._cursor = 0  # events before it were returned by event() already

    async def __aenter__(self) -> WsClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    async def connect(self) -> None:
        headers = [(b"host", b"testserver")] + [
            (k.lower().encode(), v.encode()) for k, v in self.headers.items()
        ]
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": "ws",
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 50000),
            "root_path": "",
            "path": self.path,
            "raw_path": self.path.encode(),
            "query_string": urlencode(self.query).encode(),
            "headers": headers,
            "subprotocols": [],
            "state": {},
        }
        self._task = asyncio.create_task(self.app(scope, self._receive, self._send))
        await self._to_app.put({"type": "websocket.connect"})
        accepted = asyncio.create_task(self._accepted.wait())
        closed = asyncio.create_task(self._closed.wait())
        await asyncio.wait(
            {accepted, closed, self._task}, timeout=10, return_when="FIRST_COMPLETED"
        )
        accepted.cancel()
        closed.cancel()
        assert self._accepted.is_set() or self._closed.is_set(), "no handshake answer"

    async def _receive(self) -> Message:
        return await self._to_app.get()

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "websocket.accept":
            self._accepted.set()
        elif kind == "websocket.send":
            await self._from_app.put(message.get("text") or message.get("bytes", b"").decode())
        elif kind == "websocket.close":
            self.close_code = message.get("code", 1000)
            self.close_reason = message.get("reason") or ""
            self._closed.set()
            await self._to_app.put({"type": "websocket.disconnect", "code": self.close_code})

    # -- the client's side ---------------------------------------------------------------

    async def send(self, **fields: Any) -> None:
        await self.send_raw(json.dumps({"v": 1, **fields}))

    async def send_raw(self, text: str) -> None:
        await self._to_app.put({"type": "websocket.receive", "text": text})

    async def recv(self, within: float = 10) -> Json:
        """The next message; :class:`Closed` once the server closed and nothing is left."""
        if self._from_app.empty() and self._closed.is_set():
            raise Closed(f"{self.close_code} {self.close_reason}")
        getter = asyncio.create_task(self._from_app.get())
        closed = asyncio.create_task(self._closed.wait())
        done, _ = await asyncio.wait(
            {getter, closed}, timeout=within, return_when="FIRST_COMPLETED"
        )
        closed.cancel()
        if getter in done:
            text = getter.result()
            self.raw.append(text)
            message: Json = json.loads(text)
            self.messages.append(message)
            return message
        getter.cancel()
        if self._closed.is_set():
            raise Closed(f"{self.close_code} {self.close_reason}")
        raise TimeoutError(f"no message within {within}s")

    async def wait_for(self, predicate: Callable[[Json], bool], within: float = 5) -> Json:
        """Read until a message matches ``predicate`` (every message read is kept)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            message = await self.recv(max(0.01, deadline - loop.time()))
            if predicate(message):
                return message

    async def ack(self, cid: str, within: float = 5) -> Json:
        return await self.wait_for(lambda m: m["type"] == "ack" and m.get("cid") == cid, within)

    async def event(self, predicate: Callable[[Json], bool], within: float = 10) -> Json:
        """The next batched event that matches, after the one this returned last time."""
        found: list[Json] = []

        def search(_: object = None) -> bool:
            events = self.events()
            for index in range(self._cursor, len(events)):
                if predicate(events[index]):
                    self._cursor = index + 1
                    found.append(events[index])
                    return True
            return False

        if not search():
            await self.wait_for(search, within)
        return found[0]

    async def events_until(
        self, predicate: Callable[[list[Json]], bool], within: float = 10
    ) -> list[Json]:
        """Read until the events received so far satisfy ``predicate``; returns them."""
        if not predicate(self.events()):
            await self.wait_for(lambda _: predicate(self.events()), within)
        return self.events()

    def events(self, type_: str | None = None) -> list[Json]:
        return [
            event
            for message in self.messages
            for event in message.get("events", ())
            if type_ is None or event["type"] == type_
        ]

    async def drain(self) -> None:
        """Read what is left after the server closed the connection."""
        with contextlib.suppress(Closed):
            while True:
                await self.recv()

    async def closed(self, within: float = 5) -> tuple[int | None, str]:
        await asyncio.wait_for(self._closed.wait(), within)
        return self.close_code, self.close_reason

    async def disconnect(self) -> None:
        """The client goes away; waits for the server's handler to finish."""
        if self._task is None:
            return
        await self._to_app.put({"type": "websocket.disconnect", "code": 1001})
        while not self._from_app.empty():  # unblock a server waiting on a full queue
            self._from_app.get_nowait()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 10)
        finally:
            self._task = None
