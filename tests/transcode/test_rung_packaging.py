"""Rung alignment in the packager, without ffmpeg: a rung made of the source's own frames."""

from __future__ import annotations

from livecast.ingest.flv_units import FlvDepacketizer
from livecast.media.stream import Stream
from livecast.media.unit import Unit
from livecast.packaging.packager import SOURCE
from livecast.transcode.flv_pipe import SourceTimeline
from tests.packaging.conftest import Node, Tag, attributes, feed, lines, until


def rung_units(tags: list[Tag], skip: tuple[int, int]) -> tuple[list[Unit | object], int]:
    """The source's video as a rung would carry it, missing ``skip`` (ms) like a restart."""
    timeline = SourceTimeline()
    depacketizer = FlvDepacketizer(timeline)
    items: list[Unit | object] = []
    resumed = False
    for kind, timestamp, body in tags:
        if kind != "video":
            continue
        if skip[0] <= timestamp < skip[1]:
            continue
        if timestamp >= skip[1] and not resumed:
            timeline.new_session()
            resumed = True
        result = depacketizer.video(timestamp, body)
        if result is not None:
            items.append(result)
    return items, len(items)


async def test_rung_segments_share_numbers_with_the_source_and_gaps_are_listed(
    node: Node, source_tags: list[Tag]
) -> None:
    created = await node.create_stream()
    stream, _ = await node.publish(created["stream_key"])
    packager = node.packager(stream)
    feed(stream, source_tags)
    await until(lambda: packager.ready.is_set())
    rung = Stream("rung")
    packager.add_rendition("240p", rung)
    items, _ = rung_units(source_tags, (5000, 9000))
    for item in items:
        if isinstance(item, Unit):
            rung.write(item)
        else:
            rung.set_tracks([item])  # type: ignore[list-item]
    source = packager.renditions[SOURCE]
    await until(lambda: "240p" in packager.renditions and packager.renditions["240p"].next_msn > 6)
    rendition = packager.renditions["240p"]
    starts = {s.msn: s.first_dts for s in source.segments}
    real = [s for s in rendition.segments if not s.gap]
    assert real
    for segment in real:  # no B-frames offset here: the rung is the source's own frames
        assert segment.first_dts == starts[segment.msn]
    gaps = [s.msn for s in rendition.segments if s.gap]
    assert gaps
    msns = [s.msn for s in rendition.segments]
    assert msns == list(range(msns[0], msns[0] + len(msns)))  # numbers stay consecutive
    after = rendition.segment(gaps[-1] + 1)
    assert after is not None
    assert after.discontinuity
    sid = created["id"]
    playlist = (await node.http.get(f"/hls/{sid}/240p/index.m3u8")).text
    assert "#EXT-X-GAP" in playlist
    assert "#EXT-X-DISCONTINUITY" in playlist
    gap_segment = await node.http.get(f"/hls/{sid}/240p/seg-{gaps[0]}.m4s")
    assert gap_segment.status_code == 404
    master = (await node.http.get(f"/hls/{sid}/master.m3u8")).text
    uris = [line for line in master.splitlines() if line and not line.startswith("#")]
    assert uris == ["source/index.m3u8", "240p/index.m3u8"]
    assert len({attributes(v)["AUDIO"] for v in lines(master, "#EXT-X-STREAM-INF")}) == 1
