"""Cost of CMAF packaging: fMP4 fragment writing and LL-HLS / DASH manifest rendering.

A synthetic 2.5 Mbit/s publish (30 fps H.264 with a keyframe every 2 s, 43 AAC frames/s) is cut
into 333 ms fragments, one track per fragment as CMAF requires; prints MB/s and µs per fragment.
Then renders an LL-HLS media playlist of 30 segments x 6 parts (full and delta update) and a
dynamic MPD of the same window, in µs per render.

    .venv/bin/python benchmarks/bench_packaging.py
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from livecast.media.unit import Track, Unit
from livecast.protocols.dash import (
    AdaptationSet,
    Period,
    Presentation,
    Representation,
    SegmentTemplate,
    render_mpd,
)
from livecast.protocols.hls import (
    MediaPlaylist,
    Part,
    RenditionReport,
    Segment,
    ServerControl,
    render_media_playlist,
)
from livecast.protocols.mp4 import Fragmenter

BITRATE = 2_500_000
AUDIO_BITRATE = 128_000
SECONDS = 60
FRAGMENT_MS = 333
VIDEO = Track("video", "h264", "avc1.64001f", b"\x01d\x00\x1f\xff\xe1", frame_rate=Fraction(30))
AUDIO = Track("audio", "aac", "mp4a.40.2", b"\x12\x10", sample_rate=44_100, samples_per_frame=1024)


def best_of(runs: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def synthetic_units(seed: int = 1) -> tuple[list[Unit], list[Unit]]:
    rng = random.Random(seed)
    frame_bytes = (BITRATE - AUDIO_BITRATE) // 8 // 30
    video = []
    for n in range(SECONDS * 30):
        key = n % 60 == 0
        size = frame_bytes * 8 if key else frame_bytes * 9 // 10
        dts = n * 1000 // 30
        video.append(Unit("video", "h264", dts + 66, dts, key, rng.randbytes(size), dts))
    audio_bytes = AUDIO_BITRATE // 8 // 43
    audio = []
    for n in range(SECONDS * 43):
        dts = n * 1024 * 1000 // 44_100
        audio.append(Unit("audio", "aac", dts, dts, True, rng.randbytes(audio_bytes), dts))
    return video, audio


def chunks(units: list[Unit]) -> list[tuple[list[Unit], int | None]]:
    """Units grouped into 333 ms fragments, each with the next fragment's first dts."""
    groups: dict[int, list[Unit]] = {}
    for unit in units:
        groups.setdefault(unit.dts // FRAGMENT_MS, []).append(unit)
    ordered = list(groups.values())
    return [
        (group, ordered[i + 1][0].dts if i + 1 < len(ordered) else None)
        for i, group in enumerate(ordered)
    ]


def bench_fragments() -> None:
    video, audio = synthetic_units()
    payload = sum(len(u.payload) for u in video + audio)
    work = [(VIDEO, chunks(video)), (AUDIO, chunks(audio))]
    count = sum(len(c) for _, c in work)

    def write_all() -> None:
        for track, groups in work:
            fragmenter = Fragmenter(track)
            for units, next_dts in groups:
                fragmenter.fragment(units, next_dts)

    elapsed = best_of(5, write_all)
    rate = BITRATE / 1e6
    print(f"fMP4: {SECONDS} s of {rate:.1f} Mbit/s in {count} fragments of {FRAGMENT_MS} ms")
    print(f"  {payload / elapsed / 1e6:,.0f} MB/s, {elapsed / count * 1e6:.1f} µs per fragment")
    print(f"  {elapsed / SECONDS * 100:.4f} % of a core per stream")


def ll_hls_playlist() -> MediaPlaylist:
    start = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    segments = []
    for i in range(31):
        msn = 1000 + i
        done = i < 30
        parts = [
            Part(f"part{msn}.{k}.m4s", 0.33334, independent=k == 0) for k in range(6 if done else 3)
        ]
        uri = f"seg{msn}.m4s" if done else None
        pdt = start + timedelta(seconds=2 * i)
        segments.append(Segment(msn, uri, 2.00004 if done else 0.0, parts, pdt))
    return MediaPlaylist(
        target_duration=2,
        part_target=0.33334,
        msn_start=1000,
        segments=segments,
        preload_hint_uri="part1030.3.m4s",
        rendition_reports=[RenditionReport("../480p/playlist.m3u8", 1030, 2)],
        server_control=ServerControl(part_hold_back=1.0, can_skip_until=12.0),
        map_uri="init.mp4",
    )


def dynamic_mpd() -> Presentation:
    moment = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    video = AdaptationSet(
        content_type="video",
        representations=[Representation(id="source", bandwidth=BITRATE, codecs="avc1.64001f")],
        segment_template=SegmentTemplate(
            timescale=90_000,
            initialization="$RepresentationID$/init.mp4",
            media="$RepresentationID$/$Number$.m4s",
            start_number=1000,
            segments=[(i * 180_000, 180_000 + (i % 3)) for i in range(30)],
        ),
    )
    return Presentation(
        periods=[Period(id="0", start_s=0, adaptation_sets=[video])],
        availability_start_time=moment,
        publish_time=moment,
        utc_timing_url="https://example/time",
    )


def bench_manifests() -> None:
    playlist = ll_hls_playlist()
    mpd = dynamic_mpd()
    for label, work in (
        ("LL-HLS media playlist, 30 segments x 6 parts", lambda: render_media_playlist(playlist)),
        ("LL-HLS delta update (_HLS_skip=YES)", lambda: render_media_playlist(playlist, "yes")),
        ("dynamic MPD, 30-segment timeline", lambda: render_mpd(mpd)),
    ):
        print(f"{label}: {per_call(work) * 1e6:.1f} µs per render")


def per_call(work: Callable[[], object], loops: int = 2000) -> float:
    def repeat() -> None:
        for _ in range(loops):
            work()

    return best_of(5, repeat) / loops


if __name__ == "__main__":
    bench_fragments()
    bench_manifests()
