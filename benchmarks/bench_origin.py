"""Origin capacity: 10,000 held blocking playlist requests, and keep-alive request rate vs nginx.

1. Held requests. A separate client process opens HELD (default 10,000) keep-alive connections
   and sends, on every one of them, a blocking playlist request for a part two segments ahead.
   It reports how closely the responses follow the first one (all are released by the same part
   completion), and the server's memory before and while they are held.
2. Request rate. wrk (keep-alive, 64 connections) fetches one segment and one part from
   livecast, then the same bytes as static files from nginx with one worker, in the same run.
   livecast serves from a single process, so one nginx worker is the fair comparison.

    bash scripts/system-deps.sh bench      # nginx and wrk, as root
    .venv/bin/python benchmarks/bench_origin.py
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.harness import Node, livecast_server, pin, profile, publish_file, rss_mb
from livecast.testing import free_port

HELD = int(os.environ.get("HELD", "10000"))
WRK_SECONDS = int(os.environ.get("WRK_SECONDS", "10"))


class _HeldClient(asyncio.Protocol):
    """One connection holding one blocking request; notes when its response starts and ends."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.first: float | None = None
        self.data = bytearray()
        self.done: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def send(self) -> None:
        self.transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self.first is None:
            self.first = time.monotonic()
        self.data += data
        head, found, body = bytes(self.data).partition(b"\r\n\r\n")
        if not found or self.done.done():
            return
        length = int(re.search(rb"content-length: (\d+)", head.lower())[1])  # type: ignore[index]
        if len(body) >= length:
            if not head.startswith(b"HTTP/1.1 200"):
                self.done.set_exception(RuntimeError(head.split(b"\r\n")[0].decode()))
            else:
                self.done.set_result(self.first)


async def hold(host: str, port: int, path: str, count: int) -> list[float]:
    """Open ``count`` connections, send one blocking request on each, return the times the
    responses' first bytes arrived."""
    loop = asyncio.get_running_loop()
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    clients: list[_HeldClient] = []
    for start in range(0, count, 500):
        batch = [
            loop.create_connection(lambda: _HeldClient(request), host, port)
            for _ in range(start, min(count, start + 500))
        ]
        clients.extend(protocol for _, protocol in await asyncio.gather(*batch))
    for client in clients:
        client.send()
    sent = time.monotonic()
    times = await asyncio.gather(*(client.done for client in clients))
    for client in clients:
        client.transport.close()
    print(f"  first response {min(times) - sent:.2f} s after the last request was sent", end="")
    return list(times)


def held_requests_client(host: str, port: int, path: str, count: int) -> None:
    """Runs in its own process (see main)."""
    import uvloop

    times = uvloop.run(hold(host, port, path, count))
    first = min(times)
    spread = sorted((t - first) * 1000 for t in times)
    print(
        f"\n  released {len(times)}: after the first, p50 {statistics.median(spread):.1f} ms, "
        f"p99 {spread[int(0.99 * len(spread))]:.1f} ms, last {spread[-1]:.1f} ms"
    )


def wrk(url: str) -> float:
    out = subprocess.run(
        ["wrk", "-t2", "-c64", f"-d{WRK_SECONDS}s", url], capture_output=True, text=True, check=True
    ).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]


def nginx(root: str, port: int, workdir: str) -> subprocess.Popen[bytes]:
    conf = Path(workdir) / "nginx.conf"
    conf.write_text(
        f"daemon off; master_process off; worker_processes 1; pid {workdir}/nginx.pid;\n"
        f"error_log {workdir}/error.log;\n"
        "events { worker_connections 4096; }\n"
        "http { access_log off; sendfile on; keepalive_requests 1000000;\n"
        f"  server {{ listen 127.0.0.1:{port}; root {root}; }} }}\n"
    )
    return subprocess.Popen(["nginx", "-c", str(conf), "-p", workdir])


def main() -> None:
    if not (shutil.which("wrk") and shutil.which("nginx")):
        raise SystemExit("needs wrk and nginx: run `bash scripts/system-deps.sh bench` as root")
    with livecast_server() as node, tempfile.TemporaryDirectory() as tmp:
        stream = node.create_stream("origin")
        publisher = publish_file(f"{node.rtmp}/{stream['stream_key']}")
        static = None
        try:
            base = f"/hls/{stream['id']}/source"
            while node.http.get(f"/hls/{stream['id']}/master.m3u8").status_code != 200:
                time.sleep(0.2)
            time.sleep(4)
            held_requests(node, base)
            static = request_rate(node, base, tmp)
        finally:
            for process in (publisher, static):
                if process is not None:
                    process.terminate()


def held_requests(node: Node, base: str) -> None:
    print(f"held blocking requests ({HELD}):")
    before = rss_mb(node.process.pid)
    hint = re.search(r"PRELOAD-HINT:.*part-(\d+)-", node.http.get(f"{base}/index.m3u8").text)
    assert hint is not None
    path = f"{base}/index.m3u8?_HLS_msn={int(hint[1]) + 2}&_HLS_part=0"
    pinned = os.environ.get("PIN", "1") != "0" and pin(node.process.pid, 0)
    client = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; sys.path.insert(0, sys.argv[1]);"
         "from benchmarks.bench_origin import held_requests_client as c;"
         "c('127.0.0.1', int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))",
         str(Path(__file__).resolve().parent.parent), str(node.http_port), path, str(HELD)],
    )  # fmt: skip
    if pinned:
        pin(client.pid, 1)
    profiler = profile(node.process.pid, 12, rate=1000)
    peak = before
    while client.poll() is None:
        peak = max(peak, rss_mb(node.process.pid))
        time.sleep(0.1)
    print(
        f"  server RSS {before:.0f} MB before, {peak:.0f} MB while held: "
        f"{(peak - before) * 1024 / HELD:.1f} KB per held request"
    )
    if profiler is not None:
        profiler.wait()
    pin(node.process.pid, None)
    count, total, bound = _histogram(node, "livecast_hls_held_release_seconds")
    if count:
        print(
            f"  server: {count:.0f} release(s) wrote their responses in {total / count * 1000:.1f}"
            f" ms on average, each within {bound * 1000:.0f} ms"
        )


def _histogram(node: Node, name: str) -> tuple[float, float, float]:
    """(count, sum, upper bound of the highest non-empty bucket) of histogram ``name``."""
    text = node.http.get("/metrics").text

    def value(suffix: str) -> float:
        found = re.search(rf"^{name}_{suffix} (\S+)$", text, re.M)
        return float(found[1]) if found else 0.0

    count = value("count")
    buckets = re.finditer(rf'^{name}_bucket{{le="([^"]+)"}} (\S+)$', text, re.M)
    bound = next((float(m[1]) for m in buckets if float(m[2]) >= count), float("inf"))
    return count, value("sum"), bound


def request_rate(node: Node, base: str, tmp: str) -> subprocess.Popen[bytes]:
    playlist = node.http.get(f"{base}/index.m3u8").text
    msn = int(re.findall(r"seg-(\d+)\.m4s", playlist)[-1])
    root = Path(tmp) / "static"
    root.mkdir()
    names = (f"seg-{msn}.m4s", f"part-{msn}-1.m4s")
    for name in names:
        (root / name).write_bytes(node.http.get(f"{base}/{name}").content)
    nginx_port = free_port()
    static = nginx(str(root), nginx_port, tmp)
    time.sleep(0.5)  # nginx binds
    print(f"keep-alive request rate, wrk -t2 -c64 -d{WRK_SECONDS}s:")
    for name in names:
        size = (root / name).stat().st_size
        ours = wrk(f"{node.base}{base}/{name}")
        theirs = wrk(f"http://127.0.0.1:{nginx_port}/{name}")
        print(
            f"  {name} ({size / 1024:.0f} KiB): livecast {ours:,.0f} req/s, "
            f"nginx {theirs:,.0f} req/s, ratio {ours / theirs:.2f}"
        )
    return static


if __name__ == "__main__":
    main()
