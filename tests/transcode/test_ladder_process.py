"""The ladder's ffmpeg never outlives its stream, nor livecast, even one killed with SIGKILL."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.e2e.conftest import wait_for
from tests.transcode.live_server import encode_source, ladder_server, publish_copy

pytestmark = pytest.mark.e2e


def running(pid: int) -> bool:
    """Alive and not a zombie (a killed child that nobody reaped yet is gone for our purpose)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    state = next(line for line in status.splitlines() if line.startswith("State:"))
    return "Z" not in state.split()[1]


@pytest.mark.parametrize("how", ["stream ends", "livecast is killed"])
def test_the_encoder_goes_with_its_stream_and_with_livecast(tmp_path: Path, how: str) -> None:
    source = encode_source(tmp_path / "src.flv", "640x360", 6, 800)
    with ladder_server(tmp_path, LIVECAST_TRANSCODE_MAX_RUNGS="1") as server:
        created = server.create_stream()
        publisher = publish_copy(source, f"{server.rtmp}/{created['stream_key']}")
        try:

            def encoder_pid() -> int | None:
                status = server.http.get("/api/v1/transcode/status").json()
                job = status["streams"].get(created["id"]) or {}
                return (job.get("encoder") or {}).get("pid")

            pid = int(str(wait_for(encoder_pid, 30, "the ladder's ffmpeg")))
            assert running(pid)
            if how == "stream ends":
                ended = server.http.post(f"/api/v1/streams/{created['id']}/end")
                assert ended.status_code == 200, ended.text
            else:
                os.kill(server.process.pid, signal.SIGKILL)
            wait_for(lambda: not running(pid), 10, f"ffmpeg {pid} to be gone ({how})")
        finally:
            publisher.kill()
            publisher.wait()
