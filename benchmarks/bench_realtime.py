"""One chat room under load: livecast vs python-socketio vs Node's socket.io, same load, same run.

For each server: N receiving WebSocket clients join one room; then for ``--seconds`` two sender
connections post 200 comments/s and tap 2,000 reactions/s. The python-socketio and socket.io
servers do what a livecast room does (one ``batch`` frame per 50 ms tick with the comments,
reaction totals every 250 ms), so the comparison is of the stacks, not of the batching.

The load comes from a separate process (this file with ``--load``). Receivers are raw
WebSocket connections with a minimal frame parser (they answer pings); most count deliveries
with ``bytes.count`` and every ``PROBE_EVERY``-th decodes its frames and measures latency from
the send time (``time.time_ns()``, same machine) written into each comment.

Reported per server: comment deliveries per second per server core (deliveries divided by the
server's user+system CPU seconds from /proc/<pid>/stat), p50/p99 send→receipt latency, server
RSS per idle connection (RSS with N idle clients minus RSS before, over N).

Usage: .venv/bin/python benchmarks/bench_realtime.py [--clients 10000] [--seconds 15]
       (or LIVECAST_BENCH_CLIENTS=2000); needs `npm ci` in benchmarks/node for socket.io and
       pip install python-socketio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import cpu_seconds, livecast_server, rss_mb
from livecast.testing import free_port

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE / "node"
PROBE_EVERY = 50
MARK = b"bench:"
STAMP = re.compile(rb"bench:(\d+)")
REACTIONS = ("like", "love", "fire", "clap", "wow")
LIVECAST_ENV = {
    "LIVECAST_CHAT_BURST": "1000000",
    "LIVECAST_CHAT_PER_MINUTE": "1000000",
    "LIVECAST_REACTIONS_PER_SECOND": "1000000",
    "LIVECAST_VIEWER_SESSIONS_PER_IP_PER_MINUTE": "1000000",
    "LIVECAST_WS_SEND_QUEUE_HARD": "100000",  # measure latency, not shedding
    **({"LIVECAST_REALTIME_TICK_MS": os.environ["TICK_MS"]} if "TICK_MS" in os.environ else {}),
}


def rss_bytes(pid: int) -> float:
    return rss_mb(pid) * 1024 * 1024


# -- the load process: raw WebSocket clients ------------------------------------------------


def masked_text(payload: bytes) -> bytes:
    """A client text frame; the all-zero mask key leaves the payload as it is (RFC 6455 §5.3)."""
    size = len(payload)
    if size < 126:
        header = bytes([0x81, 0x80 | size])
    else:
        header = bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
    return header + b"\0\0\0\0" + payload


@dataclass
class Stats:
    deliveries: int = 0
    counting: bool = False
    latencies_ms: list[float] = field(default_factory=list)


class Client(asyncio.Protocol):
    """Upgrades, then parses server frames just enough to count, probe and answer pings."""

    def __init__(self, request: bytes, stats: Stats, probe: bool, socketio: bool) -> None:
        self.request, self.stats, self.probe, self.socketio = request, stats, probe, socketio
        self.buffer = bytearray()
        self.upgraded = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed during the handshake"))

    def send(self, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.write(masked_text(payload))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(ConnectionError(bytes(self.buffer[:80]).decode()))
                return
            del self.buffer[: end + 4]
            self.upgraded = True
            if self.socketio:
                self.send(b"40")  # join the default namespace
        self._frames()

    def _frames(self) -> None:
        buf, pos = self.buffer, 0
        while len(buf) - pos >= 2:
            opcode, size, start = buf[pos] & 0x0F, buf[pos + 1] & 0x7F, pos + 2
            if size == 126:
                if len(buf) - pos < 4:
                    break
                size, start = int.from_bytes(buf[pos + 2 : pos + 4], "big"), pos + 4
            elif size == 127:
                if len(buf) - pos < 10:
                    break
                size, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
            if len(buf) - start < size:
                break
            self._frame(opcode, start, start + size)
            pos = start + size
        del buf[:pos]

    def _frame(self, opcode: int, start: int, end: int) -> None:
        buf = self.buffer
        if opcode == 0x9:  # ping → pong
            assert self.transport is not None
            body = bytes(buf[start:end])
            self.transport.write(bytes([0x8A, 0x80 | len(body)]) + b"\0\0\0\0" + body)
            return
        if not self.ready.done():
            self.ready.set_result(None)  # welcome (livecast) or the open packet (socket.io)
        if self.socketio and end - start == 1 and buf[start] == ord("2"):
            self.send(b"3")  # Engine.IO ping → pong
            return
        if not self.stats.counting:
            return
        if self.probe:
            now = time.time_ns()
            stamps = STAMP.findall(buf, start, end)
            self.stats.deliveries += len(stamps)
            self.stats.latencies_ms.extend((now - int(s)) / 1e6 for s in stamps)
        else:
            self.stats.deliveries += buf.count(MARK, start, end)


def upgrade_request(port: int, path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def connect(port: int, path: str, stats: Stats, probe: bool, socketio: bool) -> Client:
    loop = asyncio.get_running_loop()
    request = upgrade_request(port, path)
    _, client = await loop.create_connection(
        lambda: Client(request, stats, probe, socketio), "127.0.0.1", port
    )
    await asyncio.wait_for(client.ready, 30)
    return client


def comment(kind: str, text: str, cid: int) -> bytes:
    if kind == "livecast":
        return json.dumps({"type": "comment", "cid": f"b{cid}", "text": text}).encode()
    return ("42" + json.dumps(["comment", {"text": text}])).encode()


def reaction(kind: str, name: str) -> bytes:
    if kind == "livecast":
        return json.dumps({"type": "reaction", "kind": name}).encode()
    return ("42" + json.dumps(["reaction", name])).encode()


async def load(args: argparse.Namespace) -> None:
    """The load process: connect, say ready, wait for go, send for ``seconds``, report."""
    socketio = args.kind != "livecast"
    path = args.path
    stats = Stats()
    clients: list[Client] = []
    for first in range(0, args.clients, 250):
        batch = range(first, min(first + 250, args.clients))
        clients += await asyncio.gather(
            *(connect(args.port, path, stats, i % PROBE_EVERY == 0, socketio) for i in batch)
        )
    sender_path = path + (f"&token={args.token}" if args.token else "")
    senders = [await connect(args.port, sender_path, Stats(), False, socketio) for _ in range(2)]
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    stats.counting = True
    sent = await send_load(args, senders)
    await asyncio.sleep(args.drain)
    stats.counting = False
    print(json.dumps({"sent": sent, "deliveries": stats.deliveries, "lat": stats.latencies_ms}))
    print(f"{len(clients)} clients", file=sys.stderr)


async def send_load(args: argparse.Namespace, senders: list[Client]) -> int:
    """Comments and taps at the target rates, in 10 ms steps, from two connections."""
    start = time.monotonic()
    sent_comments = sent_taps = 0
    while (elapsed := time.monotonic() - start) < args.seconds:
        while sent_comments < elapsed * args.comments_per_second:
            text = f"bench:{time.time_ns()} hello room"
            senders[sent_comments % 2].send(comment(args.kind, text, sent_comments))
            sent_comments += 1
        while sent_taps < elapsed * args.taps_per_second:
            senders[sent_taps % 2].send(reaction(args.kind, REACTIONS[sent_taps % 5]))
            sent_taps += 1
        await asyncio.sleep(0.01)
    return sent_comments


# -- the python-socketio server -------------------------------------------------------------


def serve_socketio(port: int) -> None:
    """python-socketio under uvicorn (uvloop), with the same tick batching as a livecast room."""
    import socketio  # type: ignore[import-untyped]
    import uvicorn
    import uvloop

    sio = socketio.AsyncServer(
        async_mode="asgi", transports=["websocket"], ping_interval=300, ping_timeout=60
    )
    pending: list[dict[str, Any]] = []
    totals = dict.fromkeys(REACTIONS, 0)

    @sio.on("comment")  # type: ignore[untyped-decorator]
    async def on_comment(sid: str, message: dict[str, Any]) -> None:
        pending.append(
            {"seq": len(pending), "type": "comment", "user": sid, "text": message["text"]}
        )

    @sio.on("reaction")  # type: ignore[untyped-decorator]
    async def on_reaction(sid: str, kind: str) -> None:
        if kind in totals:
            totals[kind] += 1

    async def ticker() -> None:
        ticks = 0
        while True:
            await asyncio.sleep(0.05)
            ticks += 1
            if ticks % 5 == 0:
                pending.append({"type": "reactions", "totals": dict(totals)})
            if pending:
                events = pending[:]
                pending.clear()
                await sio.emit("batch", {"events": events})

    async def main() -> None:
        config = uvicorn.Config(socketio.ASGIApp(sio), port=port, log_level="warning")
        task = asyncio.create_task(ticker())
        print("ready", flush=True)
        await uvicorn.Server(config).serve()
        task.cancel()

    uvloop.run(main())  # as `livecast serve` does


# -- the runner -----------------------------------------------------------------------------


@dataclass
class Target:
    kind: str
    process: subprocess.Popen[bytes]
    port: int
    path: str
    token: str = ""


def wait_line(process: subprocess.Popen[bytes], expected: bytes, timeout: float = 60) -> None:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.strip() == expected:
            return
        if not line and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}")
    raise RuntimeError(f"no {expected!r} in {timeout} s")


@contextmanager
def start_livecast() -> Iterator[Target]:
    with livecast_server(LIVECAST_ENV) as node:
        stream = node.create_stream("bench")
        token = str(node.http.headers["Authorization"]).removeprefix("Bearer ")
        path = f"/ws/streams/{stream['id']}?x=1"
        yield Target("livecast", node.process, node.http_port, path, token)


@contextmanager
def start_socketio(kind: str) -> Iterator[Target]:
    port = free_port()
    if kind == "python-socketio":
        command = [sys.executable, __file__, "--serve-socketio", str(port)]
    else:
        command = [shutil.which("node") or "node", str(NODE_DIR / "server.js"), str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=NODE_DIR)
    try:
        wait_line(process, b"ready")
        yield Target(kind, process, port, "/socket.io/?EIO=4&transport=websocket")
    finally:
        process.terminate()
        process.wait(30)


def run_one(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    pid = target.process.pid
    time.sleep(1)
    rss_before = rss_bytes(pid)
    command = [sys.executable, __file__, "--load", target.kind, "--port", str(target.port)]
    command += ["--path", target.path, "--token", target.token, "--clients", str(args.clients)]
    command += ["--seconds", str(args.seconds), "--drain", str(args.drain)]
    command += ["--comments-per-second", str(args.comments_per_second)]
    command += ["--taps-per-second", str(args.taps_per_second)]
    loader = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    wait_line(loader, b"ready", timeout=600)
    time.sleep(2)  # let connection set-up work (viewer sessions, welcome) finish
    rss_idle = rss_bytes(pid)
    cpu_start, wall_start = cpu_seconds(pid), time.monotonic()
    load_cpu_start = cpu_seconds(loader.pid)
    assert loader.stdin is not None
    assert loader.stdout is not None
    loader.stdin.write(b"go\n")
    loader.stdin.flush()
    profiler = _profile(pid, args.seconds)
    report = json.loads(loader.stdout.readline())
    if profiler is not None:
        profiler.wait(60)
    cpu = cpu_seconds(pid) - cpu_start
    wall = time.monotonic() - wall_start
    load_cpu = cpu_seconds(loader.pid) - load_cpu_start
    loader.wait(60)
    latencies = sorted(report["lat"])
    expected = report["sent"] * args.clients
    return {
        "server": target.kind,
        "clients": args.clients,
        "deliveries": report["deliveries"],
        "delivered_pct": 100 * report["deliveries"] / expected if expected else 0.0,
        "deliveries_per_s": report["deliveries"] / wall,
        "server_cpu_cores": cpu / wall,
        "load_cpu_cores": load_cpu / wall,  # near 1.0: the load process limits the latency
        "deliveries_per_core_s": report["deliveries"] / cpu if cpu else 0.0,
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": latencies[int(len(latencies) * 0.99)] if latencies else float("nan"),
        "bytes_per_idle_conn": (rss_idle - rss_before) / args.clients,
    }


def _profile(pid: int, seconds: float) -> subprocess.Popen[bytes] | None:
    """With ``LIVECAST_BENCH_PROFILE=<file>``, py-spy samples the server while the load runs."""
    target = os.environ.get("LIVECAST_BENCH_PROFILE")
    if not target:
        return None
    py_spy = Path(sys.executable).with_name("py-spy")
    duration = str(max(1, int(seconds) - 2))
    command = [str(py_spy), "record", "-p", str(pid), "-d", duration, "-r", "100", "-f", "raw"]
    return subprocess.Popen([*command, "-o", target], stdout=subprocess.DEVNULL)


def run_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    for kind in args.servers:
        with start_livecast() if kind == "livecast" else start_socketio(kind) as target:
            results.append(run_one(target, args))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    return results


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        "| server | clients | deliveries/s | server cores | deliveries/s per core | "
        "p50 ms | p99 ms | KB per idle conn | delivered | load process cores |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rows.append(
            f"| {r['server']} | {r['clients']:,} | {r['deliveries_per_s']:,.0f} | "
            f"{r['server_cpu_cores']:.2f} | {r['deliveries_per_core_s']:,.0f} | "
            f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['bytes_per_idle_conn'] / 1024:.1f} | "
            f"{r['delivered_pct']:.1f} % | {r['load_cpu_cores']:.2f} |"
        )
    base = results[0]
    for r in results[1:]:
        rows.append(
            f"\nlivecast / {r['server']}: deliveries per core x "
            f"{base['deliveries_per_core_s'] / max(r['deliveries_per_core_s'], 1):.2f}, "
            f"p99 x {base['p99_ms'] / max(r['p99_ms'], 0.001):.2f}, memory per connection x "
            f"{base['bytes_per_idle_conn'] / max(r['bytes_per_idle_conn'], 1):.2f}"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_clients = int(os.environ.get("LIVECAST_BENCH_CLIENTS", "10000"))
    parser.add_argument("--clients", type=int, default=default_clients)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--drain", type=float, default=2)
    parser.add_argument("--comments-per-second", type=float, default=200)
    parser.add_argument("--taps-per-second", type=float, default=2000)
    parser.add_argument(
        "--servers", nargs="+", default=["livecast", "python-socketio", "node-socketio"]
    )
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--token", default="", help=argparse.SUPPRESS)
    parser.add_argument("--serve-socketio", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_socketio:
        serve_socketio(args.serve_socketio)
    elif args.load:
        args.kind = args.load
        import uvloop

        uvloop.run(load(args))
    else:
        print(table(run_all(args)))


if __name__ == "__main__":
    main()
