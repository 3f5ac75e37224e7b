"""`livecast serve` as a real process: starts, answers, and stops gracefully on signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from livecast.testing import free_port
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e


def healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVECAST_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "livecast",
            "serve",
            "--http-port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
            "--rtmp-port",
            str(free_port()),
        ],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: healthy(port) or process.poll() is not None, 30, "the server")
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        if process.stderr:
            process.stderr.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serves_then_stops_gracefully(
    server: tuple[subprocess.Popen[str], int], signum: int
) -> None:
    process, port = server
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/readyz").json() == {"status": "ready"}
    assert httpx.get(f"{base}/docs").status_code == 200
    assert "/api/v1/streams" in httpx.get(f"{base}/openapi.json").json()["paths"]
    response = httpx.get(f"{base}/api/v1/users/me", headers={"X-Request-ID": "e2e-rid"})
    assert response.status_code == 401
    process.send_signal(signum)
    assert process.wait(15) == 0
    assert process.stderr is not None
    lines = [
        json.loads(line) for line in process.stderr.read().splitlines() if line.startswith("{")
    ]
    messages = [line["msg"] for line in lines]
    assert "livecast is ready" in messages
    assert messages[-1] == "stopped"
    access = [line for line in lines if line.get("request_id") == "e2e-rid"]
    assert access
    assert access[0]["status"] == 401
