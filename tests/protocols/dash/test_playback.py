"""An ended (static) MPD over fMP4 segments from real units plays in ffmpeg and PyAV."""

from __future__ import annotations

import io
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import av
import pytest

from livecast.protocols.dash import (
    AdaptationSet,
    Period,
    Presentation,
    Representation,
    SegmentTemplate,
    render_mpd,
)
from tests.protocols.mp4.media import FFMPEG, source
from tests.protocols.mp4.segments import Rendition, package

pytestmark = pytest.mark.e2e
SECONDS = 6
START_NUMBER = 1
NS = "{urn:mpeg:dash:schema:mpd:2011}"


def write(directory: Path, kind: Literal["video", "audio"], rendition: Rendition) -> AdaptationSet:
    """Files named as the template expands them; the AdaptationSet that addresses them."""
    (directory / kind).mkdir()
    (directory / kind / "init.mp4").write_bytes(rendition.init)
    for number, segment in enumerate(rendition.segments, START_NUMBER):
        (directory / kind / f"{number}.m4s").write_bytes(segment.data)
    track = rendition.track
    representation = Representation(
        id=kind,
        bandwidth=1_000_000 if kind == "video" else 64_000,
        codecs=track.codec_string,
        width=track.width,
        height=track.height,
        frame_rate=track.frame_rate,
        sample_rate=track.sample_rate,
        channels=track.channels,
    )
    template = SegmentTemplate(
        timescale=rendition.timescale,
        initialization="$RepresentationID$/init.mp4",
        media="$RepresentationID$/$Number$.m4s",
        start_number=START_NUMBER,
        segments=[(s.start, s.duration) for s in rendition.segments],
    )
    return AdaptationSet(
        content_type=kind, representations=[representation], segment_template=template
    )


def test_static_mpd_plays(tmp_path: Path) -> None:
    clip = source(SECONDS, "h264")
    sets = [write(tmp_path, k, package(clip.tracks[k], clip.units[k])) for k in ("video", "audio")]
    moment = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    mpd = Presentation(
        periods=[Period(id="0", start_s=0, adaptation_sets=sets)],
        availability_start_time=moment,
        publish_time=moment,
        ended=True,
    )
    manifest = tmp_path / "manifest.mpd"
    manifest.write_text(render_mpd(mpd))

    args = [FFMPEG, "-nostdin", "-v", "error", "-i", str(manifest)]
    args += ["-map", "0:v", "-map", "0:a", "-f", "framemd5", "-"]
    run = subprocess.run(args, capture_output=True, text=True, check=False)
    assert run.stderr == ""
    rows = [line for line in run.stdout.splitlines() if line and not line.startswith("#")]
    counts = Counter(int(row.split(",")[0]) for row in rows)
    assert counts == {0: SECONDS * 25, 1: len(clip.units["audio"])}

    # PyAV's wheels are built without libxml2, so without a DASH demuxer: resolve the MPD the
    # way a client does, then let PyAV demux and decode what it addresses.
    for kind, expected in (("video", SECONDS * 25), ("audio", len(clip.units["audio"]))):
        data, starts = resolve(manifest, kind)
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams[0]
            packets = [p for p in container.demux(stream) if p.size]
            frames = sum(len(stream.codec_context.decode(p)) for p in packets)
            frames += len(stream.codec_context.decode(None))
        assert frames == len(packets) == expected
        # each S@t is the decode time of a sample; the timeline spans exactly the samples
        assert {t for t, _ in starts} <= {p.dts for p in packets}
        assert starts[0][0] == packets[0].dts
        assert sum(d for _, d in starts) == packets[-1].dts + packets[-1].duration - packets[0].dts


def resolve(manifest: Path, content_type: str) -> tuple[bytes, list[tuple[int, int]]]:
    """The init segment and every media segment the MPD addresses, and its (t, d) timeline."""
    root = ET.fromstring(manifest.read_text())  # noqa: S314 - our own output
    adaptation_set = next(
        a for a in root.iter(f"{NS}AdaptationSet") if a.get("contentType") == content_type
    )
    template = adaptation_set.find(f"{NS}SegmentTemplate")
    representation = adaptation_set.find(f"{NS}Representation")
    assert template is not None
    assert representation is not None
    timeline, clock = [], 0
    for s in template.iter(f"{NS}S"):
        clock = int(s.get("t", clock))
        for _ in range(int(s.get("r", "0")) + 1):
            timeline.append((clock, int(s.attrib["d"])))
            clock += int(s.attrib["d"])

    def url(pattern: str, number: int = 0) -> Path:
        name = pattern.replace("$RepresentationID$", representation.attrib["id"])
        return manifest.parent / name.replace("$Number$", str(number))

    first = int(template.attrib["startNumber"])
    paths = [url(template.attrib["initialization"])]
    paths += [url(template.attrib["media"], first + i) for i in range(len(timeline))]
    return b"".join(path.read_bytes() for path in paths), timeline
