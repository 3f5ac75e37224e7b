"""A real `livecast serve` with the ladder on, and ffmpeg publishing a pre-encoded file."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from livecast.testing import serve
from tests.e2e.conftest import FFMPEG, Server


def encode_source(path: Path, size: str, seconds: int, kbps: int) -> Path:
    """``seconds`` of a 30 fps test pattern (2 s GOP) and AAC, so publishing is a copy."""
    subprocess.run(
        [
            FFMPEG,
            *("-hide_banner", "-loglevel", "error", "-y"),
            *("-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30"),
            *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"),
            *("-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", "60"),
            *("-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{kbps}k"),
            *("-sc_threshold", "0", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv", str(path)),
        ],
        check=True,
    )
    return path


@contextmanager
def ladder_server(tmp_path: Path, **env: str) -> Iterator[Server]:
    """`livecast serve` with ``LIVECAST_TRANSCODE_ENABLED=true``, ``env`` and the defaults."""
    with serve(tmp_path, {"LIVECAST_TRANSCODE_ENABLED": "true", **env}, username="ladder") as node:
        yield node


def publish_copy(source: Path, url: str) -> subprocess.Popen[bytes]:
    """ffmpeg looping ``source`` to ``url`` in real time, `-c copy`."""
    return subprocess.Popen(
        [
            *(FFMPEG, "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1"),
            *("-i", str(source), "-c", "copy", "-f", "flv", url),
        ],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
