"""A live stream fed with real encoder output, and the HTTP app serving its HLS."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg
import pytest
import uvicorn

from livecast.api.app import create_app
from livecast.context import AppContext
from livecast.delivery.wire import OriginHttpProtocol
from livecast.ingest.live import LiveStream, LiveStreams
from livecast.packaging.packager import StreamPackager
from tests.flv_file import FlvTag, read_tags
from tests.helpers import user_headers

Tag = FlvTag


def encode_tags(
    path: Path, size: str, seconds: int, *, gop: int = 25, pattern: str = "testsrc"
) -> list[Tag]:
    """``seconds`` of ``size`` 25 fps H.264 (B-frames, ``gop`` frames a GOP) and AAC, as FLV
    tags; ``pattern`` is the lavfi test source."""
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"{pattern}=size={size}:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            str(seconds),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-bf",
            "2",
            "-g",
            str(gop),
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-f",
            "flv",
            str(path),
        ],
        check=True,
    )
    return read_tags(path)


@pytest.fixture(scope="session")
def source_tags(tmp_path_factory: pytest.TempPathFactory) -> list[Tag]:
    """16 s of 320x240 H.264 and AAC, as FLV tags."""
    return encode_tags(tmp_path_factory.mktemp("src") / "src.flv", "320x240", 16)


@pytest.fixture(scope="session")
def small_tags(tmp_path_factory: pytest.TempPathFactory) -> list[Tag]:
    """14 s of the same at 160x120: another SPS, for codec configuration changes."""
    return encode_tags(tmp_path_factory.mktemp("small") / "small.flv", "160x120", 14)


class Conn:
    """A stand-in publisher connection."""

    def __init__(self) -> None:
        self.peer = "127.0.0.1:1"
        self.closed: str | None = None

    def close(self, reason: str) -> None:
        self.closed = reason


@dataclass
class Node:
    ctx: AppContext
    live: LiveStreams
    http: httpx.AsyncClient
    app: Any
    headers: dict[str, str]

    async def create_stream(self, **fields: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/api/v1/streams", json={"title": "hls", **fields}, headers=self.headers
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def publish(self, key: str) -> tuple[LiveStream, Conn]:
        conn = Conn()
        stream = await self.live.begin_publish(key, "127.0.0.1", conn)
        return stream, conn

    def packager(self, stream: LiveStream) -> StreamPackager:
        packager = self.live.packagers.get(stream.id)
        assert packager is not None
        return packager


def feed(stream: LiveStream, tags: list[Tag], offset_ms: int = 0) -> None:
    for kind, timestamp, body in tags:
        stream.add(kind, timestamp + offset_ms, body)  # type: ignore[arg-type]


def until_ms(tags: list[Tag], end_ms: int) -> list[Tag]:
    return [tag for tag in tags if tag[1] < end_ms]


async def until(condition: Callable[[], bool], seconds: float = 10) -> None:
    """Let the packager task run until ``condition()`` holds, failing after ``seconds``."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - the state belongs to another task
            await asyncio.sleep(0.005)


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers (the test runner owns those)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def wire_server(app: Any) -> AsyncIterator[str]:
    """``app`` served over real sockets the way ``livecast serve`` does: the origin answers
    on the wire (delivery/wire.py), the rest through ASGI. Yields the base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        http=OriginHttpProtocol,
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:  # noqa: ASYNC110 - uvicorn sets it from its own task
            await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def serving(ctx: AppContext, *, wire: bool) -> AsyncIterator[Node]:
    """The app, reached through ASGI in process, or over TCP with the wire origin."""
    ctx.settings.stream_key_attempts_per_minute = 1000
    live = LiveStreams(ctx)
    app = create_app(ctx, live)
    async with contextlib.AsyncExitStack() as stack:
        if wire:
            base = await stack.enter_async_context(wire_server(app))
            http = httpx.AsyncClient(base_url=base)
        else:
            transport = httpx.ASGITransport(app=app)
            http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        await stack.enter_async_context(http)
        headers = await user_headers(http, "streamer")
        yield Node(ctx, live, http, app, headers)
    await app.state.realtime.close()  # create_app made it; its tasks use the database
    await live.close()


@pytest.fixture
async def wire_node(ctx: AppContext) -> AsyncIterator[Node]:
    """The app over TCP with the wire origin only, once, on SQLite."""
    if ctx.engine.dialect.name == "postgresql":
        pytest.skip("the origin does not touch the database: these run once, on SQLite")
    async with serving(ctx, wire=True) as served:
        yield served


@pytest.fixture(params=["asgi", "wire"])
async def node(ctx: AppContext, request: pytest.FixtureRequest) -> AsyncIterator[Node]:
    wire = request.param == "wire"
    if wire and ctx.engine.dialect.name == "postgresql":
        pytest.skip("the origin does not touch the database: the wire runs once, on SQLite")
    async with serving(ctx, wire=wire) as served:
        yield served


def lines(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


def attributes(line: str) -> dict[str, str]:
    """The attribute list of an HLS tag line, with quotes removed."""
    body = line.partition(":")[2]
    out: dict[str, str] = {}
    key, value, quoted, current = "", "", False, []
    for ch in body + ",":
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            key, _, value = "".join(current).partition("=")
            out[key] = value.strip('"')
            current = []
        else:
            current.append(ch)
    return out
