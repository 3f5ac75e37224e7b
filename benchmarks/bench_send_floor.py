"""The machine's floor for releasing held requests: one small send to each of N sockets.

Opens N loopback TCP connections and times a plain loop of ``socket.send`` of a 1.5 KB
playlist-sized payload to every server-side socket. Nothing is cheaper in Python than this
loop, so it bounds how fast any single-process origin can answer N held requests on this
machine (see "Origin capacity" in docs/benchmarks.md). Two cases:

- nobody reads while the loop runs (the sends only queue bytes);
- a second process waits in epoll on the client sockets and reads, as real players do, so
  each send also wakes a reader on the other CPU.

    .venv/bin/python benchmarks/bench_send_floor.py        # N=9000 RUNS=5
"""

from __future__ import annotations

import os
import resource
import selectors
import socket
import statistics
import time

PAYLOAD = b"x" * 1500


def connect(count: int) -> tuple[list[socket.socket], list[socket.socket]]:
    listener = socket.create_server(("127.0.0.1", 0), backlog=4096)
    port = listener.getsockname()[1]
    clients, servers = [], []
    for _ in range(count):
        clients.append(socket.create_connection(("127.0.0.1", port)))
        accepted, _ = listener.accept()
        accepted.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        servers.append(accepted)
    listener.close()
    return clients, servers


def read_all(clients: list[socket.socket], runs: int, done: int) -> None:
    """The reader process: read every payload; after each run, say so on ``done``."""
    selector = selectors.DefaultSelector()
    for client in clients:
        client.setblocking(False)
        selector.register(client, selectors.EVENT_READ)
    expected = len(clients) * len(PAYLOAD)
    for _ in range(runs):
        received = 0
        while received < expected:
            for key, _ in selector.select():
                received += len(key.fileobj.recv(65536))  # type: ignore[union-attr]
        os.write(done, b".")


def timed_sends(servers: list[socket.socket], runs: int, wait: int | None) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        for server in servers:
            server.send(PAYLOAD)
        times.append((time.perf_counter() - started) * 1000)
        if wait is not None:
            os.read(wait, 1)
    return times


def report(label: str, count: int, runs: list[float]) -> None:
    median = statistics.median(runs)
    print(
        f"{label}: {count} sends of 1.5 KB: "
        + ", ".join(f"{ms:.1f}" for ms in runs)
        + f" ms; median {median:.1f} ms, {median * 1000 / count:.1f} µs a send"
    )


def main() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    count = min(int(os.environ.get("N", "9000")), (hard - 100) // 2)
    runs = int(os.environ.get("RUNS", "5"))

    clients, servers = connect(count)
    quiet = []
    for _ in range(runs):  # the clients read between runs, outside the timing
        quiet += timed_sends(servers, 1, None)
        for client in clients:
            client.recv(65536)
    for sock in [*clients, *servers]:
        sock.close()
    report("nobody reading", count, quiet)

    clients, servers = connect(count)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        for sock in servers:
            sock.close()
        read_all(clients, runs, write_end)
        os._exit(0)
    for sock in clients:
        sock.close()
    woken = timed_sends(servers, runs, read_end)
    os.waitpid(child, 0)
    for sock in servers:
        sock.close()
    report("a reader waiting in epoll", count, woken)


if __name__ == "__main__":
    main()
