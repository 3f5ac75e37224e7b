"""A real `livecast serve` with the ladder on, a real ffmpeg publishing 1080p30 with `-c copy`.

The multivariant playlist lists the source and the default four rungs (the stream's quality
defaults to 1080p and ``LIVECAST_TRANSCODE_MAX_RUNGS`` to 4); PyAV reads each rung's init and
segments for its resolution, its bitrate over its complete segments, and the pts its segments
start at, which must be the same in every rendition.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from livecast.packaging.packager import SOURCE
from tests.e2e.conftest import Server
from tests.packaging.conftest import attributes, lines
from tests.transcode.live_server import encode_source, ladder_server, publish_copy

pytestmark = pytest.mark.e2e

RUNGS = {"1080p": (1920, 1080, 5000), "720p": (1280, 720, 2800), "480p": (854, 480, 1400)}
RUNGS["360p"] = (640, 360, 800)
TOLERANCE = 0.20
SEGMENTS = 4  # complete segments per rung before measuring


@pytest.fixture(scope="session")
def hd_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s of 1920x1080 30 fps H.264 (2 s GOP, 6 Mbit/s) and AAC."""
    return encode_source(tmp_path_factory.mktemp("hd") / "hd.flv", "1920x1080", 8, 6000)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with ladder_server(tmp_path) as running:
        yield running


def complete_segments(playlist: str) -> list[tuple[int, float, str]]:
    """(msn, duration, uri) of each complete, non-gap segment of a media playlist."""
    sequence = lines(playlist, "#EXT-X-MEDIA-SEQUENCE:")
    if not sequence:  # not listed yet (404)
        return []
    msn = int(sequence[0].split(":")[1])
    out: list[tuple[int, float, str]] = []
    duration, gap = 0.0, False
    for line in playlist.splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line.split(":")[1].rstrip(","))
        elif line.startswith("#EXT-X-GAP"):
            gap = True
        elif line and not line.startswith("#"):
            if not gap:
                out.append((msn, duration, line))
            msn, gap = msn + 1, False
    return out


def video_packets(path: Path) -> tuple[int, int, list[tuple[int | None, int]]]:
    """Width, height and (pts, size) of every video packet of an init + segment file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [(p.pts, p.size) for p in container.demux(stream) if p.size]
    with av.open(str(path)) as container:
        first = next(container.decode(video=0))
        return first.width, first.height, packets


def test_1080p_publish_plays_as_an_aligned_four_rung_ladder(
    server: Server, hd_source: Path, tmp_path: Path
) -> None:
    stream = server.create_stream()
    assert stream["quality"] == "1080p"
    sid = stream["id"]
    publisher = publish_copy(hd_source, f"{server.rtmp}/{stream['stream_key']}")
    http = server.http
    try:
        server.wait_status(sid, "live")
        deadline = time.monotonic() + 60
        playlists: dict[str, str] = {}
        while True:
            names = [SOURCE, *RUNGS]
            playlists = {n: http.get(f"/hls/{sid}/{n}/index.m3u8").text for n in names}
            if all(len(complete_segments(playlists[n])) >= SEGMENTS for n in RUNGS):
                break
            assert time.monotonic() < deadline, {n: p[-400:] for n, p in playlists.items()}
            time.sleep(0.5)
        master = http.get(f"/hls/{sid}/master.m3u8").text
        variants = [attributes(line) for line in lines(master, "#EXT-X-STREAM-INF")]
        uris = [line for line in master.splitlines() if line.endswith("index.m3u8")]
        assert [u.split("/")[0] for u in uris[: len(variants)]] == [SOURCE, *RUNGS], master
        assert [v["RESOLUTION"] for v in variants] == [
            "1920x1080",
            *(f"{w}x{h}" for w, h, _ in RUNGS.values()),
        ]
        status = http.get("/api/v1/transcode/status").json()["streams"][sid]
        assert status["state"] == "transcoding", status
        assert status["encoder"]["restarts"] == 0, status

        starts: dict[str, dict[int, int | None]] = {}
        for name in [SOURCE, *RUNGS]:
            playlist = playlists[name]
            init_uri = attributes(lines(playlist, "#EXT-X-MAP:")[0])["URI"]
            init = http.get(f"/hls/{sid}/{name}/{init_uri}").content
            bits, seconds = 0, 0.0
            starts[name] = {}
            for msn, duration, uri in complete_segments(playlist):
                data = http.get(f"/hls/{sid}/{name}/{uri}")
                assert data.status_code == 200, (name, uri)
                path = tmp_path / f"{name}-{msn}.mp4"
                path.write_bytes(init + data.content)
                width, height, packets = video_packets(path)
                starts[name][msn] = packets[0][0]
                if name in RUNGS:
                    assert (width, height) == RUNGS[name][:2], (name, msn)
                    bits += 8 * sum(size for _, size in packets)
                    seconds += duration
            if name in RUNGS:
                kbps, target = bits / seconds / 1000, RUNGS[name][2]
                print(f"{name}: {kbps:.0f} kbit/s over {seconds:.1f} s (target {target})")
                assert abs(kbps - target) <= TOLERANCE * target, (name, kbps, target)
        # Segment N starts at the same pts in every rendition, source included.
        common = set.intersection(*(set(s) for s in starts.values()))
        assert len(common) >= SEGMENTS - 1, starts
        for msn in sorted(common):
            assert len({starts[name][msn] for name in starts}) == 1, (msn, starts)
    finally:
        publisher.terminate()
        publisher.wait(10)
