"""LL-HLS conformance of the origin: playlists, blocking reload, delta updates, discontinuity,
ENDLIST, DVR window, tokens and media bytes, on real encoder output."""

from __future__ import annotations

import asyncio
import io
import math
import time
from typing import Any

import av
import pytest

from livecast.packaging.hls_view import preload_hint
from tests.packaging.conftest import Node, Tag, attributes, feed, lines, until, until_ms


async def live_stream(node: Node, tags: list[Tag], seconds: int, **fields: Any) -> Any:
    created = await node.create_stream(**fields)
    stream, _ = await node.publish(created["stream_key"])
    feed(stream, until_ms(tags, seconds * 1000))
    packager = node.packager(stream)
    await until(
        lambda: (
            len(packager.renditions) == 2
            and all(r.next_msn >= seconds // 2 for r in packager.renditions.values())
        )
    )
    return created, stream, packager


async def test_master_playlist(node: Node, source_tags: list[Tag]) -> None:
    created, _, _ = await live_stream(node, source_tags, 6)
    response = await node.http.get(f"/hls/{created['id']}/master.m3u8")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["access-control-allow-origin"] == "*"
    text = response.text
    inf = attributes(lines(text, "#EXT-X-STREAM-INF")[0])
    assert inf["CODECS"] == "avc1.42c00d,mp4a.40.2" or inf["CODECS"].startswith("avc1.")
    assert inf["CODECS"].endswith(",mp4a.40.2")
    assert inf["RESOLUTION"] == "320x240"
    assert float(inf["FRAME-RATE"]) == 25
    assert int(inf["BANDWIDTH"]) >= int(inf["AVERAGE-BANDWIDTH"]) > 10_000
    media = attributes(lines(text, "#EXT-X-MEDIA")[0])
    assert media["TYPE"] == "AUDIO"
    assert media["GROUP-ID"] == inf["AUDIO"]
    assert media["URI"] == "audio/index.m3u8"


async def test_media_playlist_rules(node: Node, source_tags: list[Tag]) -> None:
    created, _, packager = await live_stream(node, source_tags, 9)
    for rendition in ("source", "audio"):
        text = (await node.http.get(f"/hls/{created['id']}/{rendition}/index.m3u8")).text
        assert text.startswith("#EXTM3U\n")
        assert int(lines(text, "#EXT-X-VERSION")[0].split(":")[1]) >= 9
        target = int(lines(text, "#EXT-X-TARGETDURATION")[0].split(":")[1])
        extinfs = [float(line[8:].rstrip(",")) for line in lines(text, "#EXTINF")]
        assert extinfs
        assert all(round(d) <= target for d in extinfs)
        part_target = float(attributes(lines(text, "#EXT-X-PART-INF")[0])["PART-TARGET"])
        control = attributes(lines(text, "#EXT-X-SERVER-CONTROL")[0])
        assert control["CAN-BLOCK-RELOAD"] == "YES"
        assert float(control["PART-HOLD-BACK"]) == pytest.approx(3 * part_target)
        assert float(control["CAN-SKIP-UNTIL"]) >= 6 * target
        assert lines(text, "#EXT-X-MAP")[0] == '#EXT-X-MAP:URI="init-0.mp4"'
        assert len(lines(text, "#EXT-X-PROGRAM-DATE-TIME")) == len(extinfs) + 1
        parts = [attributes(line) for line in lines(text, "#EXT-X-PART:")]
        assert parts
        assert all(float(p["DURATION"]) <= part_target + 1e-9 for p in parts)
        # Every part except the last of its segment is at least 85 % of the target.
        hint = attributes(lines(text, "#EXT-X-PRELOAD-HINT")[0])
        assert hint["TYPE"] == "PART"
        reports = [attributes(line) for line in lines(text, "#EXT-X-RENDITION-REPORT")]
        assert len(reports) == 1
        assert reports[0]["URI"].startswith("../")
        assert "#EXT-X-ENDLIST" not in text
    video = packager.renditions["source"]
    for segment in list(video.segments)[:-1]:
        assert segment.parts[0].independent
        assert not any(p.independent for p in segment.parts[1:])
        assert all(p.duration_ms >= 0.85 * 333 for p in segment.parts[:-1])
    # Segment N of both renditions starts at the same media time (within one audio frame).
    audio = packager.renditions["audio"]
    for v, a in zip(list(video.segments)[1:-1], list(audio.segments)[1:-1], strict=False):
        assert v.msn == a.msn
        assert abs(v.first_dts - a.first_dts) <= 22


async def test_blocking_reload_is_released_when_the_part_exists(
    node: Node, source_tags: list[Tag]
) -> None:
    created, stream, packager = await live_stream(node, source_tags, 4)
    video = packager.renditions["source"]
    msn, part = preload_hint(video)
    url = f"/hls/{created['id']}/source/index.m3u8?_HLS_msn={msn}&_HLS_part={part}"
    request = asyncio.create_task(node.http.get(url))
    await asyncio.sleep(0.2)
    assert not request.done()  # held: that part does not exist yet
    feed(stream, [t for t in source_tags if 4000 <= t[1] < 4600])
    await until(lambda: video.has_part(msn, part))
    released_at = time.monotonic()
    response = await asyncio.wait_for(request, 5)
    latency = time.monotonic() - released_at
    assert response.status_code == 200
    assert f"part-{msn}-{part}.m4s" in response.text
    assert latency < 0.5
    assert "max-age" in response.headers["cache-control"]


async def test_too_far_ahead_is_400_and_bad_arguments_are_400(
    node: Node, source_tags: list[Tag]
) -> None:
    created, _, packager = await live_stream(node, source_tags, 4)
    edge = packager.renditions["source"].next_msn - 1
    base = f"/hls/{created['id']}/source/index.m3u8"
    started = time.monotonic()
    far = await node.http.get(f"{base}?_HLS_msn={edge + 3}")
    assert far.status_code == 400
    assert time.monotonic() - started < 0.5
    assert "ahead" in far.json()["detail"]
    assert far.headers["content-type"] == "application/problem+json"
    for query in ("_HLS_msn=x", "_HLS_part=1", "_HLS_msn=-1"):
        assert (await node.http.get(f"{base}?{query}")).status_code == 400


async def test_delta_update_skips_old_segments(node: Node, source_tags: list[Tag]) -> None:
    created, _, _ = await live_stream(node, source_tags, 16)
    base = f"/hls/{created['id']}/source/index.m3u8"
    full = (await node.http.get(base)).text
    delta = (await node.http.get(f"{base}?_HLS_skip=YES")).text
    skip = attributes(lines(delta, "#EXT-X-SKIP")[0])
    skipped = int(skip["SKIPPED-SEGMENTS"])
    assert skipped >= 1
    assert len(lines(full, "#EXTINF")) - len(lines(delta, "#EXTINF")) == skipped
    assert lines(full, "#EXT-X-MEDIA-SEQUENCE") == lines(delta, "#EXT-X-MEDIA-SEQUENCE")
    v2 = (await node.http.get(f"{base}?_HLS_skip=v2")).text
    assert "RECENTLY-REMOVED-DATERANGES" in lines(v2, "#EXT-X-SKIP")[0]


async def test_reconnect_is_a_discontinuity_and_end_is_endlist(
    node: Node, source_tags: list[Tag]
) -> None:
    created, stream, packager = await live_stream(node, source_tags, 5)
    node.live.end_publish(stream, stream.publisher)  # type: ignore[arg-type]
    again, _ = await node.publish(created["stream_key"])
    assert again is stream
    feed(stream, until_ms(source_tags, 5000))  # the encoder restarts its clock at 0
    video = packager.renditions["source"]
    await until(lambda: any(s.discontinuity for s in video.segments) and video.next_msn >= 5)
    base = f"/hls/{created['id']}"
    text = (await node.http.get(f"{base}/source/index.m3u8")).text
    assert text.count("#EXT-X-DISCONTINUITY\n") == 1
    audio_text = (await node.http.get(f"{base}/audio/index.m3u8")).text
    assert audio_text.count("#EXT-X-DISCONTINUITY\n") == 1
    dts = [s.first_dts for s in video.segments]
    assert dts == sorted(dts)

    ended = await node.http.post(f"/api/v1/streams/{created['id']}/end", headers=node.headers)
    assert ended.status_code == 200
    await until(lambda: video.ended)
    final = (await node.http.get(f"{base}/source/index.m3u8")).text
    assert final.rstrip().endswith("#EXT-X-ENDLIST")
    assert "#EXT-X-PRELOAD-HINT" not in final
    assert (await node.http.get(f"{base}/master.m3u8")).status_code == 200


async def test_dvr_window_bounds_the_playlist(node: Node, source_tags: list[Tag]) -> None:
    created, _, _ = await live_stream(node, source_tags, 16, dvr_window=6)
    text = (await node.http.get(f"/hls/{created['id']}/source/index.m3u8")).text
    first = int(lines(text, "#EXT-X-MEDIA-SEQUENCE")[0].split(":")[1])
    listed = sum(float(line[8:].rstrip(",")) for line in lines(text, "#EXTINF"))
    assert first > 0
    assert 6 <= listed <= 6 + 2 * 2
    gone = await node.http.get(f"/hls/{created['id']}/source/seg-0.m4s")
    assert gone.status_code == 404


async def test_private_stream_needs_a_token_on_every_url(
    node: Node, source_tags: list[Tag]
) -> None:
    created, _, _ = await live_stream(node, source_tags, 4, visibility="private")
    base = f"/hls/{created['id']}"
    for path in ("master.m3u8", "source/index.m3u8", "source/init-0.mp4", "source/seg-0.m4s"):
        refused = await node.http.get(f"{base}/{path}")
        assert refused.status_code == 403
        assert "playback token" in refused.json()["detail"]
    forged = await node.http.get(f"{base}/master.m3u8?token=not-a-token")
    assert forged.status_code == 403
    token = (
        await node.http.post(
            f"/api/v1/streams/{created['id']}/playback-token", headers=node.headers
        )
    ).json()["token"]
    master = await node.http.get(f"{base}/master.m3u8?token={token}")
    assert master.status_code == 200
    assert f"source/index.m3u8?token={token}" in master.text
    playlist = (await node.http.get(f"{base}/source/index.m3u8?token={token}")).text
    assert f'init-0.mp4?token={token}"' in playlist
    assert f"seg-0.m4s?token={token}" in playlist
    assert (await node.http.get(f"{base}/source/seg-0.m4s?token={token}")).status_code == 200


async def test_segment_headers_range_and_etag(node: Node, source_tags: list[Tag]) -> None:
    created, _, _ = await live_stream(node, source_tags, 4)
    url = f"/hls/{created['id']}/source/seg-0.m4s"
    whole = await node.http.get(url)
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "video/mp4"
    assert "immutable" in whole.headers["cache-control"]
    etag = whole.headers["etag"]
    cached = await node.http.get(url, headers={"If-None-Match": etag})
    assert cached.status_code == 304
    ranged = await node.http.get(url, headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206
    assert ranged.content == whole.content[10:20]
    assert ranged.headers["content-range"] == f"bytes 10-19/{len(whole.content)}"
    bad = await node.http.get(url, headers={"Range": "bytes=999999999-"})
    assert bad.status_code == 416
    gz = await node.http.get(
        f"/hls/{created['id']}/source/index.m3u8", headers={"Accept-Encoding": "gzip"}
    )
    assert gz.headers.get("content-encoding") == "gzip"
    assert gz.text.startswith("#EXTM3U")  # httpx decoded it
    preflight = await node.http.options(url)
    assert preflight.status_code == 204
    assert "range" in preflight.headers["access-control-allow-headers"]


async def test_segments_decode_start_with_keyframes_and_stay_in_sync(
    node: Node, source_tags: list[Tag]
) -> None:
    created, _, packager = await live_stream(node, source_tags, 9)
    base = f"/hls/{created['id']}"
    starts: dict[str, list[float]] = {}
    for name in ("source", "audio"):
        rendition = packager.renditions[name]
        init = (await node.http.get(f"{base}/{name}/init-0.mp4")).content
        previous_end: float | None = None
        for segment in [s for s in rendition.segments if s.complete]:
            data = (await node.http.get(f"{base}/{name}/seg-{segment.msn}.m4s")).content
            parts = b"".join(
                [
                    (await node.http.get(f"{base}/{name}/part-{segment.msn}-{p.index}.m4s")).content
                    for p in segment.parts
                ]
            )
            assert parts == data  # a segment is exactly its parts
            with av.open(io.BytesIO(init + data)) as container:
                packets = [p for p in container.demux() if p.size]
                tb = packets[0].time_base
                assert packets[0].is_keyframe
                first = float(packets[0].dts * tb)
                last = packets[-1]
                end = float((last.dts + last.duration) * tb)
            if previous_end is not None:
                assert abs(first - previous_end) < 0.002  # continuous across segments
            previous_end = end
            starts.setdefault(name, []).append(first)
    for v, a in zip(starts["source"][1:], starts["audio"][1:], strict=False):
        assert abs(v - a) < 0.025  # audio and video segment N start together
    assert math.isclose(starts["source"][0], 0, abs_tol=0.1)


async def test_preload_hinted_part_streams_while_it_is_written(
    node: Node, source_tags: list[Tag]
) -> None:
    created, stream, packager = await live_stream(node, source_tags, 4)
    video = packager.renditions["source"]
    keyframe = next(
        t for t in source_tags if t[0] == "video" and t[1] >= 3900 and t[2][0] >> 4 == 1
    )
    feed(stream, [t for t in source_tags if 4000 <= t[1] < keyframe[1]])
    feed(stream, [keyframe])  # opens segment 2 with its first part
    await until(lambda: preload_hint(video) == (2, 0))
    msn, index = preload_hint(video)
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "method": "GET",
        "path": f"/hls/{created['id']}/source/part-{msn}-{index}.m4s",
        "raw_path": b"",
        "query_string": b"",
        "headers": [],
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 5),
        "root_path": "",
        "http_version": "1.1",
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    request = asyncio.create_task(node.app(scope, receive, send))
    # The part holds one frame so far: its bytes leave before the part is finished.
    await until(lambda: any(m.get("more_body") for m in sent), 5)
    part = video.segment(msn).parts[index]  # type: ignore[union-attr]
    assert not part.complete  # bytes left before the part was finished
    start = sent[0]
    assert start["status"] == 200
    assert b"content-length" not in dict(start["headers"])  # chunked transfer
    feed(stream, [t for t in source_tags if keyframe[1] < t[1] < 6500])
    await asyncio.wait_for(request, 5)
    body = b"".join(m.get("body", b"") for m in sent[1:])
    segment = video.segment(msn)
    assert segment is not None
    await until(lambda: segment.complete)
    whole = await video.segment_bytes(segment)
    assert body == whole[part.offset : part.offset + part.size]


async def test_dash_manifest_matches_the_segments(node: Node, source_tags: list[Tag]) -> None:
    import xml.etree.ElementTree as ET

    from livecast.protocols.mp4.boxes import iter_boxes

    created, _, packager = await live_stream(node, source_tags, 9)
    response = await node.http.get(f"/dash/{created['id']}/manifest.mpd")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/dash+xml"
    ns = {"d": "urn:mpeg:dash:schema:mpd:2011"}
    root = ET.fromstring(response.text)  # noqa: S314 - our own output
    assert root.get("type") == "dynamic"
    assert root.get("availabilityStartTime")
    assert root.get("timeShiftBufferDepth") == "PT7200S"
    for adaptation in root.findall(".//d:AdaptationSet", ns):
        template = adaptation.find("d:SegmentTemplate", ns)
        assert template is not None
        representation = adaptation.find("d:Representation", ns)
        assert representation is not None
        rendition = packager.renditions[representation.get("id") or ""]
        number = int(template.get("startNumber") or 0)
        expected: int | None = None
        for s in template.findall("d:SegmentTimeline/d:S", ns):
            t = int(s.get("t")) if s.get("t") else expected
            for _ in range(int(s.get("r") or 0) + 1):
                assert t is not None
                if expected is not None:
                    assert t == expected  # contiguous: no gaps, no overlaps
                url = (template.get("media") or "").replace("$RepresentationID$", rendition.name)
                data = (await node.http.get(url.replace("$Number$", str(number)))).content
                boxes = dict(iter_boxes(bytes(iter_boxes(data).__next__()[1])))
                tfdt = bytes(dict(iter_boxes(bytes(boxes[b"traf"])))[b"tfdt"])
                assert int.from_bytes(tfdt[4:12], "big") == t  # S@t is the segment's tfdt
                expected = t + int(s.get("d") or 0)
                t = expected
                number += 1
    clock = await node.http.get("/dash/time")
    assert clock.text.endswith("Z")


async def test_dash_manifest_waits_for_a_complete_segment(
    node: Node, source_tags: list[Tag]
) -> None:
    # dash.js never recovers from an MPD whose SegmentTimeline is empty.
    created = await node.create_stream()
    stream, _ = await node.publish(created["stream_key"])
    feed(stream, until_ms(source_tags, 1000))
    packager = node.packager(stream)
    request = asyncio.create_task(node.http.get(f"/dash/{created['id']}/manifest.mpd"))
    await until(
        lambda: len(packager.renditions) == 2 and packager.renditions["source"].version > 20
    )
    assert not request.done()  # held: media arrived, but no segment is complete yet
    feed(stream, [t for t in source_tags if 1000 <= t[1] < 3000])
    response = await asyncio.wait_for(request, 5)
    assert response.status_code == 200
    assert response.text.count("<S ") >= 2  # one per AdaptationSet at least
