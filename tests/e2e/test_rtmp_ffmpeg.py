"""Real ffmpeg publishing to and playing from the RTMP server, run in the test's event loop.

Every stream is recorded from its first unit (see ``tests.ingest.node``), so the units can be
compared with the source clip as PyAV demuxes it: frame for frame, byte for byte, with the
timestamps the source had relative to its first packet.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from livecast.context import AppContext
from livecast.media.unit import Unit
from tests.ingest.ffmpeg import (
    Clip,
    Packet,
    encode_clip,
    ffmpeg,
    play_args,
    publish_args,
    read_packets,
    remux,
    run_ffmpeg,
)
from tests.ingest.node import Node, eventually, logged, running_node

pytestmark = pytest.mark.e2e

KINDS = ("video", "audio")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    return encode_clip(tmp_path_factory.mktemp("clips") / "clip.flv", seconds=3)


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    """A different picture and tone, so that its units cannot pass for ``clip``'s."""
    path = tmp_path_factory.mktemp("clips") / "short.flv"
    return encode_clip(path, seconds=1, video="testsrc2", tone_hz=880)


@pytest.fixture
async def node(ctx: AppContext) -> AsyncIterator[Node]:
    async with running_node(ctx) as node:
        yield node


@pytest.fixture(autouse=True)
def ingest_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="livecast.ingest")
    return caplog


def assert_same_media(units: list[Unit], packets: list[Packet]) -> None:
    """``units`` are ``packets`` frame for frame, on a timeline that starts at the first packet."""
    base = packets[0].dts
    assert units, "no units"
    assert units[0].dts == 0
    for kind in KINDS:
        got = [unit for unit in units if unit.kind == kind]
        want = [packet for packet in packets if packet.kind == kind]
        assert len(got) == len(want), f"{kind}: {len(got)} units for {len(want)} packets"
        for index, (unit, packet) in enumerate(zip(got, want, strict=True)):
            expected = (packet.pts - base, packet.dts - base, packet.keyframe)
            assert (unit.pts, unit.dts, unit.keyframe) == expected, f"{kind} unit {index}"
            assert unit.payload == packet.payload, f"{kind} unit {index}: payload differs"


def assert_run_of(pulled: list[Packet], source: list[Packet]) -> None:
    """Per kind, ``pulled`` is a run of ``source`` up to its end: same payloads, same
    composition offsets and the same durations (steps between decode timestamps)."""
    for kind in KINDS:
        got = [packet for packet in pulled if packet.kind == kind]
        want = [packet for packet in source if packet.kind == kind]
        assert got, f"no {kind} pulled"
        start = len(want) - len(got)
        assert start >= 0, f"more {kind} pulled than published"
        assert [p.payload for p in got] == [p.payload for p in want[start:]], kind
        assert _shape(got) == _shape(want[start:]), kind


def _shape(packets: list[Packet]) -> list[tuple[int, int, bool]]:
    """Composition offset, duration to the next packet and keyframe flag of each packet."""
    steps = [b.dts - a.dts for a, b in itertools.pairwise(packets)] + [0]
    return [(p.pts - p.dts, step, p.keyframe) for p, step in zip(packets, steps, strict=True)]


async def publish_to_end(node: Node, clip: Clip, key: str, *options: str) -> None:
    """Publish ``clip`` once and wait until the server has taken all of it."""
    code, log = await run_ffmpeg(*publish_args(clip.path, node.url(key), *options))
    assert code == 0, log


async def gone(node: Node, stream_id: str) -> None:
    await eventually(lambda: not node.publishing(stream_id), "the publisher to leave")


async def test_publish_delivers_the_source_frame_for_frame(node: Node, clip: Clip) -> None:
    headers = await node.user("alice")
    stream_id, key = await node.create_stream(headers)
    async with ffmpeg(*publish_args(clip.path, node.url(key))) as publisher:
        await node.went_live(stream_id, headers)
        health = await node.health(stream_id, headers)
        assert health["publishing"] is True
        async with asyncio.timeout(15):
            assert await publisher.wait() == 0
    await gone(node, stream_id)

    assert_same_media(node.registry.units(stream_id), clip.packets)
    health = await node.health(stream_id, headers)
    assert health["video_units"] == sum(p.kind == "video" for p in clip.packets)
    assert health["audio_units"] == sum(p.kind == "audio" for p in clip.packets)
    assert health["timestamp_jumps"] == health["timestamps_clamped"] == 0
    assert health["tracks"]["video"]["codec"] == "h264"
    assert health["tracks"]["audio"]["codec"] == "aac"


async def test_timestamps_beyond_24_bits_arrive_exact(
    node: Node, clip: Clip, tmp_path: Path
) -> None:
    offset = ("-output_ts_offset", "17000")  # seconds: 17,000,000 ms > 2**24 ms
    assert remux(clip.path, tmp_path / "offset.flv", *offset)[0].dts >= 2**24
    headers = await node.user("alice")
    stream_id, key = await node.create_stream(headers)

    await publish_to_end(node, clip, key, *offset)
    await gone(node, stream_id)

    assert_same_media(node.registry.units(stream_id), clip.packets)
    health = await node.health(stream_id, headers)
    assert health["timestamp_jumps"] == health["timestamps_clamped"] == 0


async def test_wrong_keys_are_refused_then_rate_limited(
    ctx: AppContext, short_clip: Clip, ingest_logs: pytest.LogCaptureFixture
) -> None:
    async with running_node(ctx, stream_key_attempts_per_minute=2) as node:
        headers = await node.user("alice")
        stream_id, key = await node.create_stream(headers)
        for guess in ("live_wrong", key[:-1]):
            code, log = await run_ffmpeg(*publish_args(short_clip.path, node.url(guess)))
            assert code != 0, log
        # Two failures spent the IP's attempts: now even the right key is refused.
        code, log = await run_ffmpeg(*publish_args(short_clip.path, node.url(key)))
        assert code != 0, log

        assert await node.live_total(headers) == 0
        assert await node.status(stream_id, headers) != "live"
        assert node.live_stream(stream_id) is None
        assert node.rtmp.counters.publishes_refused == 3
        reasons = logged(ingest_logs, "publish refused")
        assert reasons[:2] == ["Unknown stream key."] * 2
        assert "Too many failed stream key attempts" in reasons[2]


async def test_reconnect_within_grace_keeps_one_stream(ctx: AppContext, short_clip: Clip) -> None:
    async with running_node(ctx, reconnect_grace_seconds=2.0) as node:
        headers = await node.user("alice")
        stream_id, key = await node.create_stream(headers)
        await publish_to_end(node, short_clip, key)
        await gone(node, stream_id)
        first = list(node.registry.units(stream_id))
        assert await node.status(stream_id, headers) == "live"
        assert (await node.health(stream_id, headers))["publishing"] is False

        await publish_to_end(node, short_clip, key)
        await gone(node, stream_id)
        assert await node.live_total(headers) == 1
        health = await node.health(stream_id, headers)
        assert health["reconnects"] == 1

        units = node.registry.units(stream_id)
        second = units[len(first) :]
        assert_same_media(first, short_clip.packets)
        assert [unit.payload for unit in second] == [unit.payload for unit in first]
        assert min(unit.dts for unit in second) > max(unit.dts for unit in first)
        for kind in KINDS:
            flags = [unit.discontinuity for unit in second if unit.kind == kind]
            assert flags == [True] + [False] * (len(flags) - 1), kind
            dts = [unit.dts for unit in units if unit.kind == kind]
            assert dts == sorted(set(dts)), f"{kind} dts not increasing"

        # Nobody comes back: the grace window ends the stream.
        await node.wait_status(stream_id, headers, "ended")
        assert (await node.stream(stream_id, headers))["ended_at"] is not None
        assert node.live_stream(stream_id) is None


async def test_ending_through_the_api_disconnects_the_publisher(
    node: Node, short_clip: Clip, ingest_logs: pytest.LogCaptureFixture
) -> None:
    headers = await node.user("alice")
    stream_id, key = await node.create_stream(headers)
    async with ffmpeg(*publish_args(short_clip.path, node.url(key), loop=True)) as publisher:
        await node.went_live(stream_id, headers)
        await eventually(lambda: node.registry.units(stream_id), "media to arrive")
        response = await node.http.post(f"/api/v1/streams/{stream_id}/end", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "ended"
        # ffmpeg would loop forever; the server cutting it off is what makes it stop.
        async with asyncio.timeout(3):
            assert await publisher.wait() != 0
    assert node.live_stream(stream_id) is None
    assert "the stream was ended" in logged(ingest_logs, "rtmp connection closed")


async def test_play_pulls_the_published_packets(
    node: Node, clip: Clip, tmp_path: Path, ingest_logs: pytest.LogCaptureFixture
) -> None:
    headers = await node.user("alice")
    stream_id, key = await node.create_stream(headers, visibility="private")
    pulled = tmp_path / "pulled.flv"
    async with ffmpeg(*publish_args(clip.path, node.url(key))) as publisher:
        await node.went_live(stream_id, headers)
        code, log = await run_ffmpeg(*play_args(node.url(stream_id), tmp_path / "no.flv"))
        assert code != 0, log
        assert any("playback token" in reason for reason in logged(ingest_logs, "play refused"))

        response = await node.http.post(
            f"/api/v1/streams/{stream_id}/playback-token", headers=headers
        )
        assert response.status_code == 200, response.text
        token = response.json()["token"]
        async with ffmpeg(*play_args(node.url(f"{stream_id}?token={token}"), pulled)) as player:
            await eventually(lambda: _players(node, stream_id) == 1, "the player to start")
            async with asyncio.timeout(15):
                assert await publisher.wait() == 0
            await gone(node, stream_id)
            await eventually(lambda: _player_backlog(node, stream_id) == 0, "the player's queue")
            response = await node.http.post(f"/api/v1/streams/{stream_id}/end", headers=headers)
            assert response.status_code == 200, response.text
            async with asyncio.timeout(5):
                assert await player.wait() == 0

    packets = read_packets(pulled)
    assert sum(packet.kind == "video" for packet in packets) >= 25  # at least a second of it
    assert_run_of(packets, clip.packets)


async def test_two_streams_stay_independent(node: Node, clip: Clip, short_clip: Clip) -> None:
    alice, bob = await node.user("alice"), await node.user("bob")
    first, first_key = await node.create_stream(alice)
    second, second_key = await node.create_stream(bob)
    async with (
        ffmpeg(*publish_args(clip.path, node.url(first_key))) as one,
        ffmpeg(*publish_args(short_clip.path, node.url(second_key))) as other,
    ):
        await eventually(
            lambda: node.publishing(first) and node.publishing(second), "both publishers at once"
        )
        assert await node.live_total(alice) == 2
        async with asyncio.timeout(15):
            codes = await asyncio.gather(one.wait(), other.wait())
        assert list(codes) == [0, 0]
    await gone(node, first)
    await gone(node, second)
    assert_same_media(node.registry.units(first), clip.packets)
    assert_same_media(node.registry.units(second), short_clip.packets)


async def test_second_publisher_is_refused(
    node: Node, short_clip: Clip, ingest_logs: pytest.LogCaptureFixture
) -> None:
    headers = await node.user("alice")
    stream_id, key = await node.create_stream(headers)
    async with ffmpeg(*publish_args(short_clip.path, node.url(key), loop=True)) as publisher:
        await node.went_live(stream_id, headers)
        code, log = await run_ffmpeg(*publish_args(short_clip.path, node.url(key)))
        assert code != 0, log
        assert "This stream already has a publisher." in logged(ingest_logs, "publish refused")

        # The first publisher carries on undisturbed.
        assert publisher.running
        received = len(node.registry.units(stream_id))
        await eventually(lambda: len(node.registry.units(stream_id)) > received, "more media")
        health = await node.health(stream_id, headers)
        assert health["publishing"] is True
        assert health["reconnects"] == 0


def _players(node: Node, stream_id: str) -> int:
    live = node.live_stream(stream_id)
    return 0 if live is None else len(live.players)


def _player_backlog(node: Node, stream_id: str) -> int:
    """Units queued for RTMP players and not sent yet."""
    live = node.live_stream(stream_id)
    assert live is not None
    return sum(r.qsize for r in live.media.readers if r.name.startswith("rtmp-play"))
