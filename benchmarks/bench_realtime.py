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
import gc
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import TICKS, cpu_seconds, livecast_server, pin, profile, rss_mb
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


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


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
    receipts: list[tuple[int, int]] = field(default_factory=list)  # (send stamp, receipt) ns


class Client(asyncio.Protocol):
    """Upgrades, then parses server frames just enough to count, probe and answer pings.

    A receiver that is not a probe stops parsing once the room has welcomed it: while the load
    runs it only counts the comment marks in what it reads (none of the three servers pings
    within a run), so the load process spends its time on reading rather than on parsing.
    """

    parse_all = False  # --parse-all: every receiver parses every frame (the old load process)

    def __init__(self, request: bytes, stats: Stats, probe: bool, socketio: bool) -> None:
        self.request, self.stats, self.probe, self.socketio = request, stats, probe, socketio
        self.buffer = bytearray()
        self.upgraded = False
        self.counting_only = False
        self.tail = b""  # the last bytes read, for a mark split across two reads
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
        if self.counting_only:
            stats = self.stats
            if stats.counting:
                head = self.tail + data[: len(MARK) - 1]
                stats.deliveries += data.count(MARK) + head.count(MARK)
            self.tail = data[1 - len(MARK) :]
            return
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
            if not self.probe and not self.parse_all:
                self.counting_only = True  # the rest of this read is parsed below
        if self.socketio and end - start == 1 and buf[start] == ord("2"):
            self.send(b"3")  # Engine.IO ping → pong
            return
        if not self.stats.counting:
            return
        if self.probe:
            now = time.time_ns()
            stamps = STAMP.findall(buf, start, end)
            self.stats.deliveries += len(stamps)
            self.stats.receipts.extend((int(s), now) for s in stamps)
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
    # No cyclic garbage collection in the run: a full collection over 10,000 clients' objects
    # stalls this process for hundreds of ms, which showed as every server's p99.
    gc.collect()
    gc.freeze()
    gc.disable()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    stats.counting = True
    stamps = await send_load(args, senders)
    await asyncio.sleep(args.drain)
    stats.counting = False
    report = {"stamps": stamps, "deliveries": stats.deliveries, "receipts": stats.receipts}
    print(json.dumps(report))
    print(f"{len(clients)} clients", file=sys.stderr)


async def send_load(args: argparse.Namespace, senders: list[Client]) -> list[int]:
    """Comments and taps at the target rates, in 10 ms steps, from two connections.

    Returns each comment's send stamp; comment ``i`` has the cid ``b<i>``.
    """
    start = time.monotonic()
    stamps: list[int] = []
    sent_taps = 0
    while (elapsed := time.monotonic() - start) < args.seconds:
        while (sent_comments := len(stamps)) < elapsed * args.comments_per_second:
            stamps.append(time.time_ns())
            text = f"bench:{stamps[-1]} hello room"
            senders[sent_comments % 2].send(comment(args.kind, text, sent_comments))
        while sent_taps < elapsed * args.taps_per_second:
            senders[sent_taps % 2].send(reaction(args.kind, REACTIONS[sent_taps % 5]))
            sent_taps += 1
        await asyncio.sleep(0.01)
    return stamps


# -- what one write costs -------------------------------------------------------------------

WRITE_SIZES = (120, 1200, 2400, 5000, 10000)


class Sink(asyncio.Protocol):
    def data_received(self, data: bytes) -> None:
        pass


async def sink(port: int, clients: int) -> None:
    """The reading side of ``--write-cost``: ``clients`` connections that discard what comes."""
    loop = asyncio.get_running_loop()
    for _ in range(clients):
        await loop.create_connection(Sink, "127.0.0.1", port)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def write_cost(clients: int, writer_cpu: int | None, reader_cpu: int | None) -> None:
    """Microseconds per ``transport.write`` to ``clients`` loopback sockets, by frame size.

    What a room's broadcast pays per client, without the room: the writer is uvloop, as in
    ``livecast serve``; the readers are another process that reads and discards.
    """
    loop = asyncio.get_running_loop()
    transports: list[asyncio.BaseTransport] = []
    connected = asyncio.Event()

    class Accepted(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            transports.append(transport)
            if len(transports) == clients:
                connected.set()

    server = await loop.create_server(Accepted, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    command = ["--sink", str(port), "--clients", str(clients)]
    reader = await asyncio.create_subprocess_exec(
        sys.executable, __file__, *command, stdin=subprocess.PIPE
    )
    try:
        await asyncio.wait_for(connected.wait(), 300)
        pin(os.getpid(), writer_cpu)
        pin(reader.pid, reader_cpu)
        print(f"| frame bytes | µs per write, median of 9 rounds of {clients:,} |\n|---:|---:|")
        for size in WRITE_SIZES:
            data, rounds = b"x" * size, []
            for _ in range(9):
                started = time.perf_counter()
                for transport in transports:
                    transport.write(data)  # type: ignore[attr-defined]
                rounds.append((time.perf_counter() - started) / clients * 1e6)
                await asyncio.sleep(0.05)  # the readers drain
            print(f"| {size:,} | {statistics.median(rounds):.1f} |")
    finally:
        reader.kill()
        await reader.wait()
        server.close()


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
    trace: Path | None = None  # livecast's per-tick delivery trace (LIVECAST_REALTIME_TRACE)


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
def start_livecast(database_url: str | None = None) -> Iterator[Target]:
    """``livecast serve`` on SQLite in a fresh data dir, or on an empty database given by URL."""
    with tempfile.TemporaryDirectory(prefix="bench-realtime-") as tmp:
        trace = Path(tmp) / "trace.jsonl"
        env = {**LIVECAST_ENV, "LIVECAST_REALTIME_TRACE": str(trace)}
        if database_url:
            env["LIVECAST_DATABASE_URL"] = database_url
        with livecast_server(env) as node:
            stream = node.create_stream("bench")
            token = str(node.http.headers["Authorization"]).removeprefix("Bearer ")
            path = f"/ws/streams/{stream['id']}?x=1"
            yield Target("livecast", node.process, node.http_port, path, token, trace)


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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def split(target: Target, stamps: list[int], receipts: list[tuple[int, int]]) -> dict[str, float]:
    """livecast's delivery latency cut at the server's stages, from its trace (p50, p99 ms).

    A comment: sent (its stamp) → ``arrived`` at its room → ``delivered`` (committed, back from
    the log) → handed to its first client (the start of a broadcast, or a slice of one it
    joined on the way) → ``done`` (that broadcast reached its last client; a comment that
    joined on the way reaches the clients served before it in the next one); then the client
    side, ``done`` → each probe's receipt (negative for a client served early).
    """
    if target.trace is None or not target.trace.exists():
        return {}
    stages: dict[str, list[float]] = {
        "to_arrival": [],
        "arrival_to_delivered": [],
        "delivered_to_tick": [],
        "tick_to_done": [],
        "server_total": [],
    }
    done_of: dict[int, int] = {}
    for line in target.trace.read_text().splitlines():
        tick = json.loads(line)
        for cid, arrived, delivered, *first in tick["comments"]:
            handed = first[0] if first else tick["tick"]  # (older traces: the tick's start)
            index = int(cid[1:]) if cid.startswith("b") and cid[1:].isdigit() else -1
            if not 0 <= index < len(stamps) or arrived is None or delivered is None:
                continue
            sent = stamps[index]
            done_of[sent] = tick["done"]
            stages["to_arrival"].append((arrived - sent) / 1e6)
            stages["arrival_to_delivered"].append((delivered - arrived) / 1e6)
            stages["delivered_to_tick"].append((handed - delivered) / 1e6)
            stages["tick_to_done"].append((tick["done"] - handed) / 1e6)
            stages["server_total"].append((tick["done"] - sent) / 1e6)
    ticks = [json.loads(line) for line in target.trace.read_text().splitlines()]
    stages["tick_bytes"] = [float(t.get("bytes", 0)) for t in ticks]
    stages["tick_queued"] = [float(t.get("queued", 0)) for t in ticks]
    stages["tick_writing"] = [t.get("writing", 0) / 1e6 for t in ticks]  # ms in its own slices
    stages["client_side"] = [
        (received - done_of[sent]) / 1e6 for sent, received in receipts if sent in done_of
    ]
    result = {}
    for name, values in stages.items():
        result[f"{name}_p50_ms"] = percentile(values, 0.5)
        result[f"{name}_p99_ms"] = percentile(values, 0.99)
    return result


def run_one(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    pid = target.process.pid
    pin(pid, args.server_cpu)
    time.sleep(1)
    rss_before = rss_bytes(pid)
    command = [sys.executable, __file__, "--load", target.kind, "--port", str(target.port)]
    command += ["--path", target.path, "--token", target.token, "--clients", str(args.clients)]
    command += ["--seconds", str(args.seconds), "--drain", str(args.drain)]
    command += ["--comments-per-second", str(args.comments_per_second)]
    command += ["--taps-per-second", str(args.taps_per_second)]
    command += ["--parse-all"] if args.parse_all else []
    loader = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    pin(loader.pid, args.load_cpu)
    wait_line(loader, b"ready", timeout=600)
    pin(loader.pid, args.load_cpu)  # and the threads it started since
    pin(pid, args.server_cpu)
    time.sleep(2)  # let connection set-up work (viewer sessions, welcome) finish
    rss_idle = rss_bytes(pid)
    cpu_start, wall_start = cpu_seconds(pid), time.monotonic()
    user_start, system_start = cpu_split(pid)
    load_cpu_start = cpu_seconds(loader.pid)
    assert loader.stdin is not None
    assert loader.stdout is not None
    loader.stdin.write(b"go\n")
    loader.stdin.flush()
    profiler = profile(pid, max(1, args.seconds - 2))
    report = json.loads(loader.stdout.readline())
    if profiler is not None:
        profiler.wait(60)
    cpu = cpu_seconds(pid) - cpu_start
    user, system = cpu_split(pid)
    system_share = (system - system_start) / max(user - user_start + system - system_start, 1e-9)
    wall = time.monotonic() - wall_start
    load_cpu = cpu_seconds(loader.pid) - load_cpu_start
    loader.wait(60)
    stamps, receipts = report["stamps"], report["receipts"]
    latencies = sorted((received - sent) / 1e6 for sent, received in receipts)
    expected = len(stamps) * args.clients
    return {
        "server": target.kind,
        "clients": args.clients,
        "deliveries": report["deliveries"],
        "delivered_pct": 100 * report["deliveries"] / expected if expected else 0.0,
        "deliveries_per_s": report["deliveries"] / wall,
        "server_cpu_cores": cpu / wall,
        "server_system_share": system_share,  # the kernel's part of the server's CPU time
        "load_cpu_cores": load_cpu / wall,  # near 1.0: the load process limits the latency
        "deliveries_per_core_s": report["deliveries"] / cpu if cpu else 0.0,
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": latencies[int(len(latencies) * 0.99)] if latencies else float("nan"),
        "bytes_per_idle_conn": (rss_idle - rss_before) / args.clients,
        **split(target, stamps, receipts),
    }


def run_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    for kind in args.servers:
        server = start_livecast(args.database_url) if kind == "livecast" else start_socketio(kind)
        with server as target:
            results.append(run_one(target, args))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    return results


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        "| server | clients | deliveries/s | server cores | deliveries/s per core | "
        "p50 ms | p99 ms | KB per idle conn | delivered | load process cores | server sys % |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rows.append(
            f"| {r['server']} | {r['clients']:,} | {r['deliveries_per_s']:,.0f} | "
            f"{r['server_cpu_cores']:.2f} | {r['deliveries_per_core_s']:,.0f} | "
            f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['bytes_per_idle_conn'] / 1024:.1f} | "
            f"{r['delivered_pct']:.1f} % | {r['load_cpu_cores']:.2f} | "
            f"{100 * r['server_system_share']:.0f} |"
        )
    traced = [r for r in results if "server_total_p50_ms" in r]
    if traced:
        names = ("to_arrival", "arrival_to_delivered", "delivered_to_tick", "tick_to_done")
        rows += [
            "\nlivecast's split (p50 / p99 ms): send → arrival at the room → committed → tick"
            " → handed to the last client | server total | client side (after the last write)",
            "| clients | " + " | ".join(names) + " | server total | client side |",
            "|---:|" + "---:|" * (len(names) + 2),
        ]
        for r in traced:
            cells = [
                f"{r[f'{n}_p50_ms']:.0f} / {r[f'{n}_p99_ms']:.0f}"
                for n in (*names, "server_total", "client_side")
            ]
            rows.append(f"| {r['clients']:,} | " + " | ".join(cells) + " |")
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
    parser.add_argument(
        "--server-cpu", type=int, default=-1, help="pin every server to this core (-1: no pinning)"
    )
    parser.add_argument(
        "--load-cpu", type=int, default=-1, help="pin the load process to this core (-1: none)"
    )
    parser.add_argument(
        "--database-url", help="livecast's database (an empty one); default: SQLite in a temp dir"
    )
    parser.add_argument(
        "--write-cost", action="store_true", help="only measure what one write costs, by size"
    )
    parser.add_argument(
        "--parse-all", action="store_true", help="receivers parse every frame, as before"
    )
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--token", default="", help=argparse.SUPPRESS)
    parser.add_argument("--serve-socketio", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.server_cpu = None if args.server_cpu < 0 else args.server_cpu
    args.load_cpu = None if args.load_cpu < 0 else args.load_cpu
    import uvloop

    if args.serve_socketio:
        serve_socketio(args.serve_socketio)
    elif args.sink:
        uvloop.run(sink(args.sink, args.clients))
    elif args.write_cost:
        uvloop.run(write_cost(args.clients, args.server_cpu, args.load_cpu))
    elif args.load:
        args.kind = args.load
        Client.parse_all = args.parse_all
        uvloop.run(load(args))
    else:
        print(table(run_all(args)))


if __name__ == "__main__":
    main()
