"""Where a comment's delivery time goes inside the server: for benchmarks, off by default.

With ``LIVECAST_REALTIME_TRACE=<file>`` every room appends one JSON line per broadcast that
carried comments::

    {"tick": 1763740000123456789, "done": 1763740000161234567, "clients": 10000,
     "bytes": 2310, "queued": 0, "writing": 31000000,
     "comments": [["b17", 1763740000071000000, 1763740000093000000, 1763740000123500000]]}

``tick`` is when the broadcast started, ``done`` when it had reached its last connection (a
``transport.write`` for a client that keeps up), ``writing`` the ns of that spent in the room's
own slices of writes, ``bytes`` its largest frame's size, and ``queued`` how many connections had
frames waiting after it (clients that did not keep up, served by their send loops). Each comment
has its ``cid``, when the room got it from the client (after parsing), when it came back
committed from the log, and when it was handed to its first client: the broadcast's start, or
the slice it joined on the way. Times are ``time.time_ns()``, comparable with the clients'
clocks on the same machine. ``benchmarks/bench_realtime.py`` joins them with the send and
receipt times.
"""

from __future__ import annotations

import json
import os
import time
from typing import IO, Any

ENV = "LIVECAST_REALTIME_TRACE"


class DeliveryTrace:
    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._arrived: dict[str, int] = {}
        self._delivered: dict[str, int] = {}
        self._handed: dict[str, int] = {}

    @classmethod
    def from_env(cls) -> DeliveryTrace | None:
        path = os.environ.get(ENV)
        if not path:
            return None
        return cls(open(path, "a", buffering=1, encoding="utf-8"))

    def arrived(self, cid: str | None) -> None:
        if cid is not None:
            self._arrived[cid] = time.time_ns()

    def delivered(self, cid: Any) -> None:
        if isinstance(cid, str):
            self._delivered[cid] = time.time_ns()

    def handed(self, events: list[dict[str, Any]]) -> None:
        """``events`` were handed to a first client just now (each is passed here once)."""
        now = time.time_ns()
        for event in events:
            cid = event.get("cid")
            if event["type"] == "comment" and isinstance(cid, str):
                self._handed[cid] = now

    def tick(self, started: int, clients: int, size: int, queued: int, writing: int) -> None:
        """A broadcast: from ``started`` to now, ``writing`` ns of it in the room's own slices
        (the rest went to the work the loop ran between them)."""
        comments = [
            [cid, self._arrived.pop(cid, None), self._delivered.pop(cid, None), handed]
            for cid, handed in self._handed.items()
        ]
        self._handed.clear()
        if comments:
            line = {"tick": started, "done": time.time_ns(), "clients": clients}
            line |= {"bytes": size, "queued": queued, "writing": writing}
            self._out.write(json.dumps({**line, "comments": comments}) + "\n")

    def close(self) -> None:
        self._out.close()
