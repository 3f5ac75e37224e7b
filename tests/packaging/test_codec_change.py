"""A publisher's codec configuration changes mid-stream (a new SPS: another resolution).

The source rendition starts a new init segment; its playlist says so with EXT-X-DISCONTINUITY and
a new EXT-X-MAP before the first segment that uses it, while older segments keep the old one,
which stays served for as long as they are listed. The MPD starts a new Period there.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import av

from livecast.ingest.live import LiveStream
from livecast.packaging.packager import StreamPackager
from tests.packaging.conftest import Node, Tag, attributes, feed, lines, until, until_ms
from tests.packaging.test_hls_origin import live_stream

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


async def changed_stream(
    node: Node, source_tags: list[Tag], small_tags: list[Tag], **fields: Any
) -> tuple[dict[str, Any], LiveStream, StreamPackager]:
    """6 s at 320x240, then the encoder sends a new sequence header and 6 s at 160x120."""
    created, stream, packager = await live_stream(node, source_tags, 6, **fields)
    feed(stream, until_ms(small_tags, 6000), offset_ms=6000)
    await until(lambda: _new_segments(packager) >= 2)
    return created, stream, packager


def _new_segments(packager: StreamPackager) -> int:
    video = packager.renditions["source"]
    return sum(1 for s in video.segments if s.complete and s.init_version == 1)


def _first_new_msn(packager: StreamPackager) -> int:
    return next(s.msn for s in packager.renditions["source"].segments if s.init_version == 1)


def _size(init: bytes, segment: bytes) -> tuple[int, int]:
    with av.open(io.BytesIO(init + segment)) as container:
        video = container.streams.video[0]
        frame = next(container.decode(video))
        return frame.width, frame.height


async def test_new_sps_gets_a_new_map_after_a_discontinuity(
    node: Node, source_tags: list[Tag], small_tags: list[Tag]
) -> None:
    created, _, packager = await changed_stream(node, source_tags, small_tags)
    base = f"/hls/{created['id']}"
    first_new = _first_new_msn(packager)
    text = (await node.http.get(f"{base}/source/index.m3u8")).text
    assert lines(text, "#EXT-X-MAP") == [
        '#EXT-X-MAP:URI="init-0.mp4"',
        '#EXT-X-MAP:URI="init-1.mp4"',
    ]
    # The new map comes after the discontinuity and before the first segment that uses it.
    body = text.splitlines()
    new_map = body.index('#EXT-X-MAP:URI="init-1.mp4"')
    assert body[new_map - 1] == "#EXT-X-DISCONTINUITY"
    after = body[new_map:]
    assert next(line for line in after if not line.startswith("#")) == f"seg-{first_new}.m4s"
    before = body[:new_map]
    assert f"seg-{first_new - 1}.m4s" in before
    # Audio did not change, but its segment N starts a new discontinuity sequence with video's.
    audio = (await node.http.get(f"{base}/audio/index.m3u8")).text
    assert audio.count("#EXT-X-DISCONTINUITY\n") == 1
    assert len(lines(audio, "#EXT-X-MAP")) == 1
    # Each init segment decodes the segments that name it.
    old = (await node.http.get(f"{base}/source/init-0.mp4")).content
    new = (await node.http.get(f"{base}/source/init-1.mp4")).content
    seg_old = (await node.http.get(f"{base}/source/seg-{first_new - 1}.m4s")).content
    seg_new = (await node.http.get(f"{base}/source/seg-{first_new}.m4s")).content
    assert _size(old, seg_old) == (320, 240)
    assert _size(new, seg_new) == (160, 120)
    # The multivariant playlist describes the newest configuration.
    master = (await node.http.get(f"{base}/master.m3u8")).text
    inf = attributes(lines(master, "#EXT-X-STREAM-INF")[0])
    assert inf["RESOLUTION"] == "160x120"
    assert inf["CODECS"].split(",")[0] == packager.renditions["source"].track.codec_string


async def test_reconnect_with_another_resolution(
    node: Node, source_tags: list[Tag], small_tags: list[Tag]
) -> None:
    created, stream, packager = await live_stream(node, source_tags, 5)
    node.live.end_publish(stream, stream.publisher)  # type: ignore[arg-type]
    again, _ = await node.publish(created["stream_key"])
    assert again is stream
    feed(stream, until_ms(small_tags, 6000))  # the encoder restarts its clock at 0
    await until(lambda: _new_segments(packager) >= 2)
    text = (await node.http.get(f"/hls/{created['id']}/source/index.m3u8")).text
    assert text.count("#EXT-X-DISCONTINUITY\n") == 1
    body = text.splitlines()
    new_map = body.index('#EXT-X-MAP:URI="init-1.mp4"')
    assert body[new_map - 1] == "#EXT-X-DISCONTINUITY"


async def test_old_init_is_served_while_listed_then_dropped(
    node: Node, source_tags: list[Tag], small_tags: list[Tag]
) -> None:
    created, stream, packager = await changed_stream(node, source_tags, small_tags, dvr_window=6)
    url = f"/hls/{created['id']}/source/init-0.mp4"
    video = packager.renditions["source"]
    assert any(s.init_version == 0 for s in video.segments)
    assert (await node.http.get(url)).status_code == 200
    feed(stream, [t for t in small_tags if t[1] >= 6000], offset_ms=6000)
    await until(lambda: all(s.init_version == 1 for s in video.segments))
    assert (await node.http.get(url)).status_code == 404
    text = (await node.http.get(f"/hls/{created['id']}/source/index.m3u8")).text
    assert lines(text, "#EXT-X-MAP") == ['#EXT-X-MAP:URI="init-1.mp4"']


async def test_delta_update_names_the_map_of_its_first_segment(
    node: Node, source_tags: list[Tag], small_tags: list[Tag]
) -> None:
    created, stream, packager = await live_stream(node, source_tags, 4)
    feed(stream, small_tags, offset_ms=4000)
    await until(lambda: _new_segments(packager) >= 6)
    base = f"/hls/{created['id']}/source/index.m3u8"
    delta = (await node.http.get(f"{base}?_HLS_skip=YES")).text
    skipped = int(attributes(lines(delta, "#EXT-X-SKIP")[0])["SKIPPED-SEGMENTS"])
    assert skipped >= 1
    # Whatever was skipped, the segments listed after the skip name the init they use.
    body = delta.splitlines()
    skip = next(i for i, line in enumerate(body) if line.startswith("#EXT-X-SKIP"))
    maps = [line for line in body[skip:] if line.startswith("#EXT-X-MAP")]
    first_listed = int(lines(delta, "#EXT-X-MEDIA-SEQUENCE")[0].split(":")[1]) + skipped
    segment = packager.renditions["source"].segment(first_listed)
    assert segment is not None
    assert segment.init_version == 1  # the change was skipped
    assert maps == ['#EXT-X-MAP:URI="init-1.mp4"']


async def test_mpd_starts_a_new_period(
    node: Node, source_tags: list[Tag], small_tags: list[Tag]
) -> None:
    created, _, packager = await changed_stream(node, source_tags, small_tags)
    response = await node.http.get(f"/dash/{created['id']}/manifest.mpd")
    root = ET.fromstring(response.text)  # noqa: S314 - our own output
    first, second = root.findall("d:Period", NS)
    assert (first.get("id"), first.get("start")) == ("0", "PT0S")
    video = packager.renditions["source"]
    start = video.segment(_first_new_msn(packager))
    assert start is not None
    assert start.start_ticks is not None
    assert second.get("id") == "1"
    assert (
        second.get("start") == f"PT{start.start_ticks / 90_000:.3f}".rstrip("0").rstrip(".") + "S"
    )
    for period, version in ((first, 0), (second, 1)):
        for adaptation in period.findall("d:AdaptationSet", NS):
            template = adaptation.find("d:SegmentTemplate", NS)
            assert template is not None
            representation = adaptation.find("d:Representation", NS)
            assert representation is not None
            if representation.get("id") == "source":
                assert (template.get("initialization") or "").endswith(f"/init-{version}.mp4")
                width = "320" if version == 0 else "160"
                assert representation.get("width") == width
            if period is second:
                timescale = int(template.get("timescale") or 0)
                offset = int(template.get("presentationTimeOffset") or 0)
                assert abs(offset / timescale - start.start_ticks / 90_000) < 0.03
                first_s = template.find("d:SegmentTimeline/d:S", NS)
                assert first_s is not None
                assert int(first_s.get("t") or 0) >= offset - 0.03 * timescale
                assert template.get("startNumber") == str(start.msn)


async def test_pyav_reads_the_hls_playlist_across_the_change(
    node: Node, source_tags: list[Tag], small_tags: list[Tag], tmp_path: Path
) -> None:
    created, _, packager = await changed_stream(node, source_tags, small_tags)
    ended = await node.http.post(f"/api/v1/streams/{created['id']}/end", headers=node.headers)
    assert ended.status_code == 200
    await until(lambda: packager.renditions["source"].ended)
    # A copy of the ended stream on disk: the playlists' URIs are relative, so they resolve.
    for name in ("source", "audio"):
        text = (await node.http.get(f"/hls/{created['id']}/{name}/index.m3u8")).text
        (tmp_path / name).mkdir()
        (tmp_path / name / "index.m3u8").write_text(text)
        uris = [line for line in text.splitlines() if line.endswith(".m4s")]
        uris += [attributes(line)["URI"] for line in lines(text, "#EXT-X-MAP")]
        for uri in uris:
            data = (await node.http.get(f"/hls/{created['id']}/{name}/{uri}")).content
            (tmp_path / name / uri).write_bytes(data)
    sizes: list[tuple[int, int]] = []
    with av.open(str(tmp_path / "source" / "index.m3u8")) as container:
        for frame in container.decode(video=0):
            if not sizes or sizes[-1] != (frame.width, frame.height):
                sizes.append((frame.width, frame.height))
    assert sizes == [(320, 240), (160, 120)]
