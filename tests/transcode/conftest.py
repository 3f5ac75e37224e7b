"""A node with transcoding on, fed in real time with an 854x480 source."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from livecast.api.app import create_app
from livecast.context import AppContext
from livecast.events.catalog import DomainEvent, TranscodeStateChanged
from livecast.ingest.live import LiveStream, LiveStreams
from tests.helpers import user_headers
from tests.packaging.conftest import Node, Tag, node, source_tags  # noqa: F401 - fixtures
from tests.packaging.conftest import encode_tags as encode_packaging_tags


def encode_tags(path: Path, size: str, seconds: int) -> list[Tag]:
    """``seconds`` of ``size`` 25 fps with a 2 s GOP (the ladder's segment target)."""
    return encode_packaging_tags(path, size, seconds, gop=50, pattern="testsrc2")


@pytest.fixture(scope="session")
def sd_tags(tmp_path_factory: pytest.TempPathFactory) -> list[Tag]:
    """12 s of 854x480."""
    return encode_tags(tmp_path_factory.mktemp("sd") / "sd.flv", "854x480", 12)


@pytest.fixture(scope="session")
def small_tags(tmp_path_factory: pytest.TempPathFactory) -> list[Tag]:
    """6 s of 640x360."""
    return encode_tags(tmp_path_factory.mktemp("small") / "small.flv", "640x360", 6)


@pytest.fixture
def ladder_events(ctx: AppContext) -> list[TranscodeStateChanged]:
    """The TranscodeStateChanged events published on the node's bus, in order."""
    seen: list[TranscodeStateChanged] = []

    async def record(event: DomainEvent) -> None:
        if isinstance(event, TranscodeStateChanged):
            seen.append(event)

    ctx.bus.subscribe(record)
    return seen


@pytest.fixture
async def ladder_node(ctx: AppContext) -> AsyncIterator[Node]:
    ctx.settings.stream_key_attempts_per_minute = 1000
    ctx.settings.transcode_enabled = True
    ctx.settings.transcode_max_rungs = 2
    ctx.settings.transcode_stall_seconds = 3
    ctx.settings.thumbnail_interval_seconds = 1
    live = LiveStreams(ctx)
    app = create_app(ctx, live)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        headers = await user_headers(http, "streamer")
        yield Node(ctx, live, http, app, headers)
    await app.state.realtime.close()  # create_app made it; its tasks use the database
    await live.close()


async def feed_live(stream: LiveStream, tags: list[Tag], speed: float = 2.0) -> None:
    """Feed ``tags`` at ``speed`` times real time, as a publisher would."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for kind, timestamp, body in tags:
        delay = start + timestamp / 1000 / speed - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        stream.add(kind, timestamp, body)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
