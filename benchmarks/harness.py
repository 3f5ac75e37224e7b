"""What every benchmark needs: a source file, a real `livecast serve`, a user, publishers.

with livecast_server({"LIVECAST_HLS_ENABLED": "0"}) as node:
    stream = node.create_stream("bench")
    publisher = publish_file(f"{node.rtmp}/{stream['stream_key']}")
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg

FFMPEG = os.environ.get("LIVECAST_FFMPEG") or imageio_ffmpeg.get_ffmpeg_exe()
FPS = 30
CACHE = Path(__file__).parent / ".cache"
SOURCE = CACHE / "src_720p30_2500k.flv"
TICKS = os.sysconf("SC_CLK_TCK")
PASSWORD = "benchmark password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_source() -> Path:
    """20 s of 720p30 H.264 at 2.4 Mbit/s (2 s GOP) and 128 kbit/s AAC, encoded once."""
    if not SOURCE.exists():
        CACHE.mkdir(exist_ok=True)
        subprocess.run(
            [FFMPEG, "-hide_banner", "-loglevel", "error", "-y",
             "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate={FPS}",
             "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "20",
             "-c:v", "libx264", "-preset", "veryfast", "-b:v", "2400k", "-maxrate", "2400k",
             "-bufsize", "2400k", "-g", "60", "-sc_threshold", "0",
             "-c:a", "aac", "-b:a", "128k", "-f", "flv", str(SOURCE)],
            check=True,
        )  # fmt: skip
    return SOURCE


def publish_file(url: str, *, paced_from_start: bool = False) -> subprocess.Popen[bytes]:
    """ffmpeg looping the source to ``url`` in real time with `-c copy` (little CPU of its own).

    ``paced_from_start`` turns off ffmpeg's initial half-second burst, for latency figures.
    """
    burst = ["-readrate_initial_burst", "0"] if paced_from_start else []
    return subprocess.Popen(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-re", *burst, "-stream_loop", "-1",
         "-i", str(make_source()), "-c", "copy", "-f", "flv", url],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # a terminated publisher complains; that is expected
    )  # fmt: skip


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Node:
    process: subprocess.Popen[bytes]
    http: httpx.Client  # authenticated as a streamer
    http_port: int
    rtmp: str  # rtmp://127.0.0.1:PORT/live
    data_dir: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def create_stream(self, title: str, **fields: Any) -> dict[str, Any]:
        response = self.http.post("/api/v1/streams", json={"title": title, **fields})
        response.raise_for_status()
        created: dict[str, Any] = response.json()
        return created

    def wait_status(self, stream_id: str, status: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.http.get(f"/api/v1/streams/{stream_id}").json()["status"] != status:
            if time.monotonic() > deadline:
                raise SystemExit(f"stream {stream_id} did not become {status}")
            time.sleep(0.1)


@contextmanager
def livecast_server(extra_env: dict[str, str] | None = None) -> Iterator[Node]:
    """A `livecast serve` process on free ports and a fresh data dir, stopped on exit."""
    http_port, rtmp_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="livecast-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIVECAST_")}
        env |= {
            "LIVECAST_HTTP_PORT": str(http_port),
            "LIVECAST_RTMP_PORT": str(rtmp_port),
            "LIVECAST_DATA_DIR": f"{tmp}/data",
            "LIVECAST_LOG_LEVEL": "WARNING",
            "LIVECAST_AUTH_RATE_LIMIT_PER_MINUTE": "100000",
            **(extra_env or {}),
        }
        process = subprocess.Popen([sys.executable, "-m", "livecast", "serve"], env=env, cwd=tmp)
        http = httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=30)
        try:
            _wait_healthy(http, process)
            user = {"username": "bench", "email": "bench@example.com", "password": PASSWORD}
            http.post("/api/v1/auth/register", json=user).raise_for_status()
            login = http.post(
                "/api/v1/auth/login", json={"username": "bench", "password": PASSWORD}
            )
            http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
            yield Node(process, http, http_port, f"rtmp://127.0.0.1:{rtmp_port}/live", Path(tmp))
        finally:
            http.close()
            process.terminate()
            process.wait(30)


def _wait_healthy(http: httpx.Client, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"livecast exited with {process.returncode}")
        try:
            if http.get("/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit("livecast did not become healthy in 60 s")
