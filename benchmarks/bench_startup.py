"""Startup time of `livecast serve`: from exec to the first 200 from /healthz.

Baseline in the same run: a bare `python -c pass` start, and a bare uvicorn app answering its
first request, so that the number reads as a ratio on whatever machine it runs on.
Each figure is the median of N runs (default 5), on a fresh data dir (so migrations run).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from livecast.testing import free_port

RUNS = int(os.environ.get("RUNS", "5"))
BARE_APP = """
import uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
uvicorn.run(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), log_level="warning")
"""


def time_until_healthy(argv: list[str], url: str, env: dict[str, str], cwd: str) -> float:
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, cwd=cwd, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if httpx.get(url, timeout=0.5).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"{argv} exited early")
            time.sleep(0.005)
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVECAST_")}
    python, livecast, bare = [], [], []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            python.append(time.perf_counter() - started)

            port = free_port()
            argv = [sys.executable, "-c", BARE_APP, str(port)]
            bare.append(time_until_healthy(argv, f"http://127.0.0.1:{port}/", env, tmp))

            port = free_port()
            argv = [
                sys.executable,
                "-m",
                "livecast",
                "serve",
                "--http-port",
                str(port),
                "--rtmp-port",
                str(free_port()),
                "--data-dir",
                str(Path(tmp) / "d"),
            ]
            livecast.append(time_until_healthy(argv, f"http://127.0.0.1:{port}/healthz", env, tmp))

    def ms(values: list[float]) -> str:
        return (
            f"median {statistics.median(values) * 1000:7.0f} ms  (runs: "
            + ", ".join(f"{v * 1000:.0f}" for v in values)
            + ")"
        )

    print(f"python -c pass          {ms(python)}")
    print(f"bare uvicorn app        {ms(bare)}")
    print(f"livecast serve (fresh)  {ms(livecast)}")
    ratio = statistics.median(livecast) / statistics.median(bare)
    print(f"ratio livecast / bare uvicorn: {ratio:.2f}x")


if __name__ == "__main__":
    main()
