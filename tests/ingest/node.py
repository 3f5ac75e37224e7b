"""An in-process livecast node for ingest tests.

:func:`running_node` runs the RTMP server, the live streams and the HTTP API in the test's own
event loop, so a test can publish over a real socket and then look at the units a stream got.
Every stream's media is recorded from its first unit by a reader attached when it is created.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from livecast.api.app import create_app
from livecast.context import AppContext
from livecast.ingest.live import LiveStream, LiveStreams
from livecast.ingest.rtmp_server import RtmpLimits, RtmpServer
from livecast.media.stream import Item, Reader, Stream, StreamClosed, StreamRegistry
from livecast.media.unit import Unit
from livecast.protocols.rtmp.session import SessionConfig
from tests.helpers import user_headers

# Far more units than any test publishes: the recorder must never drop one.
RECORDER_QUEUE = 1_000_000


class RecordingRegistry(StreamRegistry):
    """A registry that reads every stream it creates from the start, before its first unit."""

    def __init__(self) -> None:
        super().__init__()
        self._readers: dict[str, Reader] = {}
        self._items: dict[str, list[Item]] = {}

    def create(self, stream_id: str) -> Stream:
        stream = super().create(stream_id)
        self._readers[stream_id] = stream.add_reader("test recorder", RECORDER_QUEUE)
        self._items.setdefault(stream_id, [])
        return stream

    def __bool__(self) -> bool:
        # LiveStreams takes ``registry or StreamRegistry()``: an empty registry is falsy (it has
        # a length), so without this the recorder would be silently replaced.
        return True

    def items(self, stream_id: str) -> list[Item]:
        """Everything the stream delivered so far: configs and units, in order."""
        reader, items = self._readers.get(stream_id), self._items.get(stream_id, [])
        while reader is not None:
            try:
                items.append(reader.get_nowait())
            except (asyncio.QueueEmpty, StreamClosed):
                break
        return items

    def units(self, stream_id: str) -> list[Unit]:
        return [item for item in self.items(stream_id) if isinstance(item, Unit)]


async def eventually(
    check: Callable[[], Any],
    what: str,
    timeout: float = 5.0,  # noqa: ASYNC109
) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds.

    (A timeout parameter rather than :func:`asyncio.timeout` around the call, so that the
    failure says what was awaited.)"""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


def logged(caplog: pytest.LogCaptureFixture, message: str, peer: str | None = None) -> list[Any]:
    """The ``extra`` reasons of the log records with ``message`` (for ``peer``, if given)."""
    return [
        getattr(record, "reason", None)
        for record in caplog.records
        if record.getMessage() == message and peer in (None, getattr(record, "peer", None))
    ]


@dataclass
class Node:
    ctx: AppContext
    live: LiveStreams
    registry: RecordingRegistry
    rtmp: RtmpServer
    http: httpx.AsyncClient

    @property
    def port(self) -> int:
        return self.rtmp.port

    def url(self, name: str) -> str:
        """The RTMP URL of a stream key (to publish) or a stream id (to play)."""
        return f"rtmp://127.0.0.1:{self.port}/live/{name}"

    async def user(self, username: str) -> dict[str, str]:
        """Register ``username``; its Authorization header."""
        return await user_headers(self.http, username)

    async def create_stream(self, headers: dict[str, str], **fields: Any) -> tuple[str, str]:
        """A new stream of the user: its id and stream key."""
        body = {"title": "ingest test", **fields}
        response = await self.http.post("/api/v1/streams", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()["id"], response.json()["stream_key"]

    async def stream(self, stream_id: str, headers: dict[str, str]) -> dict[str, Any]:
        response = await self.http.get(f"/api/v1/streams/{stream_id}", headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def status(self, stream_id: str, headers: dict[str, str]) -> str:
        return str((await self.stream(stream_id, headers))["status"])

    async def health(self, stream_id: str, headers: dict[str, str]) -> dict[str, Any]:
        response = await self.http.get(f"/api/v1/streams/{stream_id}/health", headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def live_total(self, headers: dict[str, str]) -> int:
        response = await self.http.get("/api/v1/streams?status=live", headers=headers)
        assert response.status_code == 200, response.text
        return int(response.json()["total"])

    async def wait_status(self, stream_id: str, headers: dict[str, str], status: str) -> None:
        async def reached() -> bool:
            return await self.status(stream_id, headers) == status

        await eventually(reached, f"stream {stream_id} to be {status}")

    async def went_live(self, stream_id: str, headers: dict[str, str]) -> None:
        """Wait until the stream has a publisher on this node, then check the API says live.

        (Not the other way round: the database says live a moment before ingest is attached.)
        """
        await eventually(lambda: self.publishing(stream_id), f"a publisher on {stream_id}")
        assert await self.status(stream_id, headers) == "live"

    def live_stream(self, stream_id: str) -> LiveStream | None:
        """The stream's ingest state, while it is live on this node."""
        return self.live.get(uuid.UUID(stream_id))

    def publishing(self, stream_id: str) -> bool:
        """Whether the stream has a publisher on this node right now."""
        live = self.live_stream(stream_id)
        return live is not None and live.publisher is not None


@asynccontextmanager
async def running_node(
    ctx: AppContext,
    limits: RtmpLimits | None = None,
    session_config: SessionConfig | None = None,
    **settings: Any,
) -> AsyncIterator[Node]:
    """Serve RTMP on a free port of 127.0.0.1; ``settings`` override the context's settings."""
    if settings:
        ctx = dataclasses.replace(ctx, settings=ctx.settings.model_copy(update=settings))
    registry = RecordingRegistry()
    live = LiveStreams(ctx, registry)
    rtmp = RtmpServer(live, "127.0.0.1", 0, limits or RtmpLimits(), session_config)
    serving = asyncio.create_task(rtmp.serve(), name="test rtmp server")
    started = asyncio.create_task(rtmp.started.wait())
    await asyncio.wait({serving, started}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    started.cancel()
    if serving.done():
        serving.result()  # the server failed to start: show why
    assert rtmp.started.is_set(), "the RTMP server did not start"
    app = create_app(ctx, live)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Node(ctx, live, registry, rtmp, http)
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await app.state.realtime.close()  # create_app made it; its tasks use the database
        await live.close()
        # A stream whose grace window has just run out is still being ended (database writes,
        # event handlers) by a task that live.close() no longer tracks: let it finish before
        # the test's database goes away.
        ending = [task for task in asyncio.all_tasks() if task.get_name().startswith("grace-")]
        if ending:
            await asyncio.wait(ending, timeout=5)
