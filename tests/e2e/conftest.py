"""A real `livecast serve` process, a user with a stream, and real ffmpeg publishers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg
import pytest

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    base: str
    rtmp: str
    process: subprocess.Popen[bytes]
    http: httpx.Client

    def create_stream(self, **fields: Any) -> dict[str, Any]:
        response = self.http.post("/api/v1/streams", json={"title": "e2e", **fields})
        response.raise_for_status()
        created: dict[str, Any] = response.json()
        return created

    def wait_status(self, stream_id: str, status: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.http.get(f"/api/v1/streams/{stream_id}").json()["status"] == status:
                return
            time.sleep(0.1)
        raise AssertionError(f"stream {stream_id} did not become {status}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    http_port, rtmp_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVECAST_")}
    env |= {"LIVECAST_LOG_LEVEL": "WARNING", "LIVECAST_RECONNECT_GRACE_SECONDS": "2"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "livecast",
            "serve",
            "--http-port",
            str(http_port),
            "--rtmp-port",
            str(rtmp_port),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{http_port}"
    http = httpx.Client(base_url=base, timeout=30)
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
        user = {"username": "e2e_user", "email": "e2e@example.com", "password": "e2e password"}
        http.post("/api/v1/auth/register", json=user).raise_for_status()
        login = http.post("/api/v1/auth/login", json={k: user[k] for k in ("username", "password")})
        http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        yield Server(base, f"rtmp://127.0.0.1:{rtmp_port}/live", process, http)
    finally:
        http.close()
        process.terminate()
        process.wait(15)


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
