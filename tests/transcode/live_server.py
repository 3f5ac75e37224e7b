"""A real `livecast serve` with the ladder on, and ffmpeg publishing a pre-encoded file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.e2e.conftest import FFMPEG, Server, free_port


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
    http_port, rtmp_port = free_port(), free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIVECAST_")}
    environ |= {"LIVECAST_LOG_LEVEL": "WARNING", "LIVECAST_TRANSCODE_ENABLED": "true", **env}
    argv = [sys.executable, "-m", "livecast", "serve", "--http-port", str(http_port)]
    argv += ["--rtmp-port", str(rtmp_port), "--data-dir", str(tmp_path / "data")]
    process = subprocess.Popen(argv, cwd=tmp_path, env=environ, stderr=subprocess.DEVNULL)
    http = httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=30)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if http.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not start in 30 s"
            time.sleep(0.05)
        user = {"username": "ladder", "email": "ladder@example.com", "password": "e2e password"}
        http.post("/api/v1/auth/register", json=user).raise_for_status()
        login = http.post("/api/v1/auth/login", json={k: user[k] for k in ("username", "password")})
        http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        rtmp = f"rtmp://127.0.0.1:{rtmp_port}/live"
        yield Server(f"http://127.0.0.1:{http_port}", rtmp, process, http)
    finally:
        http.close()
        process.terminate()
        process.wait(15)


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
