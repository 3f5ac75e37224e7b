"""Regressions found by the RTMP test matrix: registry identity, player idleness, visibility."""

from __future__ import annotations

from pathlib import Path

import pytest

from livecast.context import AppContext
from livecast.ingest.live import LiveStreams
from livecast.ingest.rtmp_server import RtmpLimits
from livecast.media.stream import StreamRegistry
from tests.ingest.ffmpeg import Clip, encode_clip, ffmpeg, play_args, publish_args, run_ffmpeg
from tests.ingest.node import eventually, logged, running_node


async def test_an_empty_registry_is_the_one_used(ctx: AppContext) -> None:
    registry = StreamRegistry()
    live = LiveStreams(ctx, registry)
    assert live.registry is registry
    await live.close()
    await live.close()  # closing twice is harmless


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    return encode_clip(tmp_path_factory.mktemp("clip") / "clip.flv", seconds=2)


@pytest.mark.e2e
async def test_a_receiving_player_is_not_idle(
    ctx: AppContext, clip: Clip, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="livecast.ingest")
    async with running_node(ctx, RtmpLimits(idle_timeout=1.5)) as node:
        headers = await node.user("alice")
        stream_id, key = await node.create_stream(headers)
        async with ffmpeg(*publish_args(clip.path, node.url(key), loop=True)):
            await node.went_live(stream_id, headers)
            # The player sends nothing for longer than the idle timeout; it is receiving.
            code, log = await run_ffmpeg(
                "-t", "4", *play_args(node.url(stream_id), tmp_path / "pulled.flv")
            )
            assert code == 0, log
        idle = [r for r in logged(caplog, "rtmp connection closed") if "idle" in str(r)]
        assert idle == []


@pytest.mark.e2e
async def test_making_a_live_stream_private_needs_tokens_from_then_on(
    ctx: AppContext, clip: Clip, tmp_path: Path
) -> None:
    async with running_node(ctx) as node:
        headers = await node.user("alice")
        stream_id, key = await node.create_stream(headers)
        async with ffmpeg(*publish_args(clip.path, node.url(key), loop=True)):
            await node.went_live(stream_id, headers)
            changed = await node.http.patch(
                f"/api/v1/streams/{stream_id}", json={"visibility": "private"}, headers=headers
            )
            assert changed.status_code == 200
            await eventually(
                lambda: (
                    node.live_stream(stream_id) is not None
                    and node.live_stream(stream_id).visibility == "private"
                ),  # type: ignore[union-attr]
                "the live stream to learn its new visibility",
            )
            code, _ = await run_ffmpeg(*play_args(node.url(stream_id), tmp_path / "no.flv"))
            assert code != 0
            hls = await node.http.get(f"/hls/{stream_id}/master.m3u8")
            assert hls.status_code == 403
