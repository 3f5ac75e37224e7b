"""The machine's floor for releasing held requests: one small send to each of N sockets.

Opens N loopback TCP connections and times a plain loop of ``socket.send`` of a 1.5 KB
playlist-sized payload to every server-side socket, with nobody reading during the loop.
Nothing is cheaper in Python than this loop, so it bounds how fast any single-process origin
can answer N held requests on this machine (see "Origin capacity" in docs/benchmarks.md).

    .venv/bin/python benchmarks/bench_send_floor.py        # N=9000 RUNS=5
"""

from __future__ import annotations

import os
import resource
import socket
import statistics
import time


def main() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    count = min(int(os.environ.get("N", "9000")), (hard - 100) // 2)
    listener = socket.create_server(("127.0.0.1", 0), backlog=4096)
    port = listener.getsockname()[1]
    clients, servers = [], []
    for _ in range(count):
        clients.append(socket.create_connection(("127.0.0.1", port)))
        accepted, _ = listener.accept()
        accepted.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        servers.append(accepted)
    payload = b"x" * 1500
    runs = []
    for _ in range(int(os.environ.get("RUNS", "5"))):
        started = time.perf_counter()
        for server in servers:
            server.send(payload)
        runs.append((time.perf_counter() - started) * 1000)
        for client in clients:
            client.recv(65536)
    print(
        f"{count} sends of 1.5 KB on loopback TCP: "
        + ", ".join(f"{ms:.1f}" for ms in runs)
        + f" ms; median {statistics.median(runs):.1f} ms, "
        f"{statistics.median(runs) * 1000 / count:.1f} µs a send"
    )
    for sock in [*clients, *servers, listener]:
        sock.close()


if __name__ == "__main__":
    main()
