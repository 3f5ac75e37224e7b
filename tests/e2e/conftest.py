"""A real `livecast serve` process, a user with a stream, and real ffmpeg publishers."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import pytest

from livecast.testing import ServeProcess, serve

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


Server = ServeProcess


def wait_for(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    """Poll ``condition`` until it returns something true, which is returned."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """`livecast serve` with a short reconnect grace and no ladders (the transcode tests
    turn them on)."""
    env = {"LIVECAST_RECONNECT_GRACE_SECONDS": "2", "LIVECAST_TRANSCODE_ENABLED": "false"}
    with serve(tmp_path, env, username="e2e_user") as running:
        yield running


def publish_live(url: str, seconds: int, size: str = "640x360") -> subprocess.Popen[bytes]:
    """ffmpeg encoding a test pattern in real time (x264 zerolatency, 1 s GOP) to ``url``."""
    return subprocess.Popen(
        [
            FFMPEG,
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            str(seconds),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            "30",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-f",
            "flv",
            url,
        ],
        stdin=subprocess.DEVNULL,
    )
