"""ffmpeg and PyAV read a live stream published by ffmpeg, through HLS and through DASH."""

from __future__ import annotations

import subprocess

import av
import pytest

from tests.e2e.conftest import FFMPEG, Server, publish_live

pytestmark = pytest.mark.e2e


def test_hls_and_dash_play_in_ffmpeg_and_pyav(server: Server) -> None:
    stream = server.create_stream()
    publisher = publish_live(f"{server.rtmp}/{stream['stream_key']}", 25, size="320x240")
    try:
        server.wait_status(stream["id"], "live")
        hls = f"{server.base}/hls/{stream['id']}/master.m3u8"
        dash = f"{server.base}/dash/{stream['id']}/manifest.mpd"
        # PyAV through its HLS demuxer: every stream decodes, and audio stays with video.
        with av.open(hls, options={"live_start_index": "0"}) as container:
            video, audio = container.streams.video[0], container.streams.audio[0]
            assert (video.codec_context.width, video.codec_context.height) == (320, 240)
            last: dict[str, float] = {}
            frames = 0
            for packet in container.demux(video, audio):
                if packet.dts is None:
                    continue
                kind = packet.stream.type
                t = float(packet.dts * packet.time_base)
                assert t >= last.get(kind, t)  # timestamps only move forward
                last[kind] = t
                if kind == "video":
                    frames += len(packet.decode())
                if frames >= 90 and "audio" in last:
                    break
            assert abs(last["video"] - last["audio"]) < 0.5
        # ffmpeg through both demuxers, decoding two seconds without an error.
        for url in (hls, dash):
            result = subprocess.run(
                [FFMPEG, "-hide_banner", "-v", "error", "-i", url, "-t", "2", "-f", "null", "-"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert result.returncode == 0, result.stderr
            assert result.stderr.strip() == "", result.stderr
    finally:
        publisher.terminate()
        publisher.wait(10)
