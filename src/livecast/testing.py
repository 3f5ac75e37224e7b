"""A real ``livecast serve`` process for end-to-end tests and benchmarks.

livecast itself never imports this module. It starts the server on free ports with a fresh data
dir, waits until ``/healthz`` answers, registers a user and logs it in::

    with serve(tmp_path, {"LIVECAST_TRANSCODE_ENABLED": "false"}) as node:
        stream = node.create_stream("demo")
        # publish to f"{node.rtmp}/{stream['stream_key']}", play node.base + "/hls/..."
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

PASSWORD = "a password for tests"  # noqa: S105 - a throwaway test account


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServeProcess:
    base: str  # http://127.0.0.1:PORT
    rtmp: str  # rtmp://127.0.0.1:PORT/live
    process: subprocess.Popen[bytes]
    http: httpx.Client  # logged in as the registered user (a streamer)
    http_port: int
    data_dir: Path

    def create_stream(self, title: str = "test", **fields: Any) -> dict[str, Any]:
        response = self.http.post("/api/v1/streams", json={"title": title, **fields})
        response.raise_for_status()
        created: dict[str, Any] = response.json()
        return created

    def wait_status(self, stream_id: str, status: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.http.get(f"/api/v1/streams/{stream_id}").json()["status"] != status:
            if time.monotonic() > deadline:
                raise TimeoutError(f"stream {stream_id} did not become {status} in {timeout} s")
            time.sleep(0.1)


@contextmanager
def serve(
    workdir: Path,
    env: Mapping[str, str] | None = None,
    *,
    username: str = "tester",
    stderr: int | IO[bytes] | None = subprocess.DEVNULL,
    startup_timeout: float = 60,
) -> Iterator[ServeProcess]:
    """``livecast serve`` in ``workdir`` with ``env`` over the defaults; stopped on exit.

    Only ``env`` and the ports reach the process: the caller's own ``LIVECAST_*`` variables
    are left out, so a developer's settings never change a test.
    """
    http_port, rtmp_port = free_port(), free_port()
    data_dir = workdir / "data"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIVECAST_")}
    environ |= {
        "LIVECAST_HTTP_PORT": str(http_port),
        "LIVECAST_RTMP_PORT": str(rtmp_port),
        "LIVECAST_DATA_DIR": str(data_dir),
        "LIVECAST_LOG_LEVEL": "WARNING",
        "LIVECAST_AUTH_RATE_LIMIT_PER_MINUTE": "100000",
        **(env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "livecast", "serve"], cwd=workdir, env=environ, stderr=stderr
    )
    base = f"http://127.0.0.1:{http_port}"
    http = httpx.Client(base_url=base, timeout=30)
    try:
        _wait_healthy(http, process, startup_timeout)
        user = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
        http.post("/api/v1/auth/register", json=user).raise_for_status()
        login = http.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        login.raise_for_status()
        http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        rtmp = f"rtmp://127.0.0.1:{rtmp_port}/live"
        yield ServeProcess(base, rtmp, process, http, http_port, data_dir)
    finally:
        http.close()
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(http: httpx.Client, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"livecast exited with {process.returncode} before it was healthy")
        try:
            if http.get("/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"livecast was not healthy within {timeout} s")
