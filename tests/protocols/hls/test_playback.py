"""An LL-HLS presentation written from real units plays end to end in ffmpeg."""

from __future__ import annotations

import math
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest

from livecast.protocols.hls import (
    AudioRendition,
    MediaPlaylist,
    Part,
    Segment,
    ServerControl,
    Variant,
    render_media_playlist,
    render_multivariant,
)
from tests.protocols.hls.m3u8 import check_rules, parse_media
from tests.protocols.mp4.media import FFMPEG, source
from tests.protocols.mp4.segments import Rendition, package

pytestmark = pytest.mark.e2e
START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SECONDS = 6


def write_rendition(directory: Path, rendition: Rendition) -> MediaPlaylist:
    """Write init, segment and part files; return the ended playlist that lists them."""
    directory.mkdir()
    (directory / "init.mp4").write_bytes(rendition.init)
    scale = rendition.timescale
    segments = []
    for msn, segment in enumerate(rendition.segments):
        (directory / f"seg{msn}.m4s").write_bytes(segment.data)
        parts = []
        for k, part in enumerate(segment.parts):
            (directory / f"part{msn}.{k}.m4s").write_bytes(part.data)
            parts.append(Part(f"part{msn}.{k}.m4s", part.duration / scale, part.independent))
        pdt = START + timedelta(seconds=segment.start / scale)
        segments.append(Segment(msn, f"seg{msn}.m4s", segment.duration / scale, parts, pdt))
    longest_part = max(p.duration for s in rendition.segments for p in s.parts) / scale
    playlist = MediaPlaylist(
        target_duration=2,
        part_target=math.ceil(longest_part * 1000) / 1000,
        segments=segments,
        server_control=ServerControl(can_skip_until=12.0),
        ended=True,
        map_uri="init.mp4",
    )
    (directory / "playlist.m3u8").write_text(render_media_playlist(playlist))
    return playlist


def frame_counts(path: Path) -> tuple[Counter[int], str]:
    """Frames decoded per output stream (video first), and ffmpeg's error output."""
    args = [FFMPEG, "-nostdin", "-v", "error", "-i", str(path)]
    args += ["-map", "0:v?", "-map", "0:a?", "-f", "framemd5", "-"]
    run = subprocess.run(args, capture_output=True, text=True, check=False)
    rows = [line for line in run.stdout.splitlines() if line and not line.startswith("#")]
    return Counter(int(row.split(",")[0]) for row in rows), run.stderr


def test_ll_hls_presentation_plays_in_ffmpeg(tmp_path: Path) -> None:
    clip = source(SECONDS, "h264")
    video, audio = clip.tracks["video"], clip.tracks["audio"]
    for kind in ("video", "audio"):
        rendition = package(clip.tracks[kind], clip.units[kind])
        playlist = write_rendition(tmp_path / kind, rendition)
        parsed = parse_media((tmp_path / kind / "playlist.m3u8").read_text())
        check_rules(parsed)
        assert len(parsed.segments) == len(playlist.segments)
        assert parsed.segments[0].parts[0].independent
    assert video.width is not None
    assert video.height is not None
    master = render_multivariant(
        [
            Variant(
                uri="video/playlist.m3u8",
                bandwidth=1_000_000,
                codecs=[video.codec_string, audio.codec_string],
                resolution=(video.width, video.height),
                frame_rate=video.frame_rate,
                audio_group="audio",
            )
        ],
        [AudioRendition(uri="audio/playlist.m3u8", name="main", channels=audio.channels)],
    )
    (tmp_path / "master.m3u8").write_text(master)

    counts, errors = frame_counts(tmp_path / "video" / "playlist.m3u8")
    assert errors == ""
    assert counts == {0: SECONDS * 25}
    counts, errors = frame_counts(tmp_path / "master.m3u8")
    assert errors == ""
    assert counts == {0: SECONDS * 25, 1: len(clip.units["audio"])}
    with av.open(str(tmp_path / "master.m3u8")) as container:
        frames = sum(1 for _ in container.decode(container.streams.video[0]))
    assert frames == SECONDS * 25
