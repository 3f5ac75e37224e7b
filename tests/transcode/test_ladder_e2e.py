"""Real ffmpeg: a published source comes back as aligned rungs in every playlist."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import av
import pytest

from livecast.events.catalog import TranscodeStateChanged
from livecast.packaging.packager import SOURCE
from tests.packaging.conftest import Node, Tag, attributes, lines, until
from tests.transcode.conftest import feed_live, write

pytestmark = pytest.mark.e2e


def first_frame(path: Path) -> tuple[int, int, int | None]:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            return frame.width, frame.height, frame.pts
    raise AssertionError("no frame")


async def segment_file(node: Node, sid: str, name: str, msn: int, tmp: Path) -> Path:
    init = await node.http.get(f"/hls/{sid}/{name}/init-0.mp4")
    seg = await node.http.get(f"/hls/{sid}/{name}/seg-{msn}.m4s")
    assert init.status_code == 200, (name, init.text)
    assert seg.status_code == 200, (name, msn, seg.text)
    return write(tmp / f"{name}-{msn}.mp4", init.content + seg.content)


async def test_ladder_rungs_are_listed_aligned_and_sized(
    ladder_node: Node, sd_tags: list[Tag], tmp_path: Path
) -> None:
    created = await ladder_node.create_stream(quality="1080p")
    stream, _ = await ladder_node.publish(created["stream_key"])
    sid = created["id"]
    await feed_live(stream, sd_tags)
    packager = ladder_node.packager(stream)
    await until(
        lambda: all(
            name in packager.renditions
            and sum(s.complete for s in packager.renditions[name].segments) >= 3
            for name in ("480p", "360p")
        ),
        20,
    )
    master = (await ladder_node.http.get(f"/hls/{sid}/master.m3u8")).text
    variants = [attributes(line) for line in lines(master, "#EXT-X-STREAM-INF")]
    assert [v["RESOLUTION"] for v in variants] == ["854x480", "854x480", "640x360"]
    assert "1080p/index.m3u8" not in master
    assert "720p" not in master
    assert all(v["AUDIO"] == "audio" and "mp4a" in v["CODECS"] for v in variants)
    assert int(variants[2]["BANDWIDTH"]) < int(variants[1]["BANDWIDTH"])
    # Segment N of every rung starts at the pts the source's segment N starts at.
    rung = packager.renditions["360p"]
    msn = next(s.msn for s in rung.segments if s.complete and not s.gap)
    frames = {
        name: first_frame(await segment_file(ladder_node, sid, name, msn, tmp_path))
        for name in (SOURCE, "480p", "360p")
    }
    assert frames["480p"][:2] == (854, 480)
    assert frames["360p"][:2] == (640, 360)
    assert frames[SOURCE][2] == frames["480p"][2] == frames["360p"][2]
    mpd = (await ladder_node.http.get(f"/dash/{sid}/manifest.mpd")).text
    assert 'id="480p"' in mpd
    assert 'id="360p"' in mpd
    status = (await ladder_node.http.get("/api/v1/transcode/status")).json()
    assert status["streams"][sid]["state"] == "transcoding"
    thumb = await ladder_node.http.get(f"/api/v1/streams/{sid}/thumbnail.jpg")
    assert thumb.status_code == 200
    assert thumb.content[:2] == b"\xff\xd8"
    assert "max-age" in thumb.headers["cache-control"]
    with av.open(str(write(tmp_path / "t.jpg", thumb.content))) as image:
        assert image.streams.video[0].codec_context.width == 640


async def test_killing_ffmpeg_restarts_it_and_the_source_keeps_going(
    ladder_node: Node, sd_tags: list[Tag], ladder_events: list[TranscodeStateChanged]
) -> None:
    created = await ladder_node.create_stream()
    stream, _ = await ladder_node.publish(created["stream_key"])
    transcoders = ladder_node.live.transcoders
    assert transcoders is not None
    feeding = asyncio.create_task(feed_live(stream, sd_tags, speed=1.5))
    packager = ladder_node.packager(stream)
    await until(lambda: "360p" in packager.renditions and packager.renditions["360p"].segments, 20)
    job = transcoders.get(str(stream.id))
    assert job is not None
    assert job.supervisor is not None
    assert job.supervisor.pid is not None
    os.kill(job.supervisor.pid, signal.SIGKILL)
    source_before = packager.renditions[SOURCE].next_msn
    await until(lambda: job.supervisor is not None and job.supervisor.restarts == 1, 10)
    rung = packager.renditions["360p"]
    resumed = rung.next_msn
    await feeding
    await until(lambda: rung.next_msn > resumed, 10)
    assert packager.renditions[SOURCE].next_msn > source_before  # the source never stopped
    assert job.supervisor.state == "running"
    assert any(s.discontinuity for s in rung.segments)
    states = [(e.state, e.severity) for e in ladder_events]
    assert states[:3] == [
        ("transcoding", "info"),
        ("restarting", "warning"),
        ("transcoding", "info"),
    ]
    assert "-9" in ladder_events[1].reason  # the exit status of the killed encoder


async def test_over_budget_stream_is_passthrough_until_budget_frees(
    ladder_node: Node, sd_tags: list[Tag], ladder_events: list[TranscodeStateChanged]
) -> None:
    transcoders = ladder_node.live.transcoders
    assert transcoders is not None
    transcoders.budget.capacity = 20  # one 480p + 360p ladder (16 units), not two
    first_created = await ladder_node.create_stream()
    second_created = await ladder_node.create_stream()
    first, _ = await ladder_node.publish(first_created["stream_key"])
    second, _ = await ladder_node.publish(second_created["stream_key"])
    opening = [tag for tag in sd_tags if tag[1] < 500]
    await feed_live(first, opening)
    await until(lambda: transcoders.budget.holders == 1)
    await feed_live(second, opening)
    job = transcoders.get(str(second.id))
    assert job is not None
    await until(lambda: job.state == "over_budget")
    assert job.reason is not None
    assert "budget" in job.reason
    health = second.health()["transcode"]
    assert health["state"] == "over_budget"
    metrics = (await ladder_node.http.get("/metrics")).text
    assert "livecast_transcode_waiting 1.0" in metrics
    await until(lambda: any(e.stream_id == second.id for e in ladder_events))
    refused = next(e for e in ladder_events if e.stream_id == second.id)
    assert (refused.state, refused.severity) == ("over_budget", "warning")
    assert refused.rungs == ("480p", "360p")
    assert refused.reason == job.reason
    stored = await ladder_node.http.get(
        f"/api/v1/streams/{second_created['id']}/events",
        params={"type": "TranscodeStateChanged"},
        headers=ladder_node.headers,
    )
    assert [e["data"]["state"] for e in stored.json()["items"]] == ["over_budget"]
    ended = await ladder_node.http.post(
        f"/api/v1/streams/{first_created['id']}/end", headers=ladder_node.headers
    )
    assert ended.status_code == 200, ended.text
    await until(lambda: job.state == "transcoding")
    assert transcoders.budget.holders == 1


async def test_a_smaller_source_after_a_reconnect_gets_its_rungs_chosen_again(
    ladder_node: Node,
    sd_tags: list[Tag],
    small_tags: list[Tag],
    ladder_events: list[TranscodeStateChanged],
) -> None:
    transcoders = ladder_node.live.transcoders
    assert transcoders is not None
    created = await ladder_node.create_stream(quality="1080p")
    sid = created["id"]
    stream, conn = await ladder_node.publish(created["stream_key"])
    await feed_live(stream, [tag for tag in sd_tags if tag[1] < 4000])
    packager = ladder_node.packager(stream)
    await until(lambda: "480p" in packager.renditions, 20)
    ladder_node.live.end_publish(stream, conn)  # the publisher comes back at 640x360
    stream, conn = await ladder_node.publish(created["stream_key"])
    await feed_live(stream, small_tags)
    job = transcoders.get(sid)
    assert job is not None
    await until(lambda: [r.name for r in job.rungs] == ["360p", "240p"], 20)
    await until(lambda: "240p" in packager.renditions, 20)
    assert "480p" not in packager.renditions
    master = (await ladder_node.http.get(f"/hls/{sid}/master.m3u8")).text
    assert "480p/index.m3u8" not in master
    assert "240p/index.m3u8" in master
    assert (await ladder_node.http.get(f"/hls/{sid}/480p/index.m3u8")).status_code == 404
    ladders = [e.rungs for e in ladder_events if e.state == "transcoding"]
    assert ladders[:2] == [("480p", "360p"), ("360p", "240p")]
    assert transcoders.budget.holders == 1
    assert transcoders.budget.load == job.cost
