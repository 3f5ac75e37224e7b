"""The origin on the wire: uvicorn's HTTP protocol, with origin answers written to the socket.

``livecast serve`` gives uvicorn :class:`OriginHttpProtocol` as its ``http`` class. It is
uvicorn's own httptools protocol, except for ``/hls/`` and ``/dash/`` requests that the origin
can answer without waiting (:meth:`HlsOrigin.answer`): their reply goes to the transport as
one write, with no ASGI task, scope or messages. Everything else, including origin requests
that wait for media or disk, takes uvicorn's normal ASGI path.

Blocking playlist requests are held here without a task each. :class:`HeldRequests` keeps them
by rendition and by the part they wait for; when the rendition's playlist changes, every
request whose part now exists is answered in one pass, with the reply's bytes built once per
variant (skip mode, token, gzip) and written to each transport. Through ASGI, releasing 10,000
held requests meant waking 10,000 tasks and sending 20,000 ASGI messages.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Hashable
from typing import Any, cast

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from livecast.delivery.http import Reply, header, response_head
from livecast.delivery.origin import HlsOrigin, Hold, Wait, route_label
from livecast.observability.middleware import RequestLog, request_id
from livecast.packaging.rendition import Rendition

log = logging.getLogger(__name__)
ORIGIN_PREFIXES = (b"/hls/", b"/dash/")
SWEEP_SECONDS = 0.5  # how often held requests are checked for their timeout
SMALL_BODY = 16384  # a body shorter than this is copied behind the head, for a single write


class _Unused:
    """uvicorn sets its cycle's message event on body bytes and disconnects: nothing waits."""

    def set(self) -> None:
        pass


_UNUSED = _Unused()


class _WireCycle:
    """Stands in for uvicorn's RequestResponseCycle while the origin answers a request, so
    that uvicorn's own bookkeeping (pipelining, keep-alive, shutdown) works unchanged."""

    __slots__ = ("body", "disconnected", "keep_alive", "more_body", "response_complete")

    message_event = _UNUSED

    def __init__(self, keep_alive: bool) -> None:
        self.keep_alive = keep_alive
        self.response_complete = False
        self.disconnected = False
        self.more_body = True
        self.body = b""


class _Held:
    __slots__ = ("cycle", "deadline", "hold", "method", "path", "protocol", "rid", "started")

    def __init__(
        self,
        protocol: OriginHttpProtocol,
        cycle: _WireCycle,
        hold: Hold,
        method: str,
        path: str,
        rid: str,
        started: float,
    ) -> None:
        self.protocol = protocol
        self.cycle = cycle
        self.hold = hold
        self.method = method
        self.path = path
        self.rid = rid
        self.started = started
        self.deadline = started + hold.timeout


class HeldRequests:
    """Blocking playlist requests waiting for a part, released together when it appears."""

    def __init__(self, record: RequestLog) -> None:
        self.record = record
        # rendition -> the (msn, part) waited for -> the held requests, by connection
        self._waiting: dict[Rendition, dict[tuple[int, int | None], dict[int, _Held]]] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        record.metrics.held_requests.set_function(self.__len__)

    def __len__(self) -> int:
        return sum(len(group) for groups in self._waiting.values() for group in groups.values())

    def add(self, held: _Held) -> None:
        rendition = held.hold.rendition
        groups = self._waiting.get(rendition)
        if groups is None:
            groups = self._waiting[rendition] = {}
            rendition.playlist_listeners.add(self._changed)
        groups.setdefault(held.hold.key, {})[id(held.protocol)] = held
        if self._sweeper is None:
            loop = asyncio.get_running_loop()
            self._sweeper = loop.call_later(SWEEP_SECONDS, self._sweep)

    def drop(self, held: _Held) -> None:
        """Forget ``held`` (its connection closed) without answering it."""
        rendition = held.hold.rendition
        groups = self._waiting.get(rendition)
        group = groups.get(held.hold.key) if groups else None
        if group is not None and group.pop(id(held.protocol), None) is not None and not group:
            self._forget(rendition, held.hold.key)

    def expire(self, held: _Held) -> None:
        """Answer ``held`` now with its timeout reply (the server is shutting down)."""
        self.drop(held)
        self._answer([held], ready=False)

    def _forget(self, rendition: Rendition, key: tuple[int, int | None]) -> None:
        groups = self._waiting[rendition]
        del groups[key]
        if not groups:
            del self._waiting[rendition]
            rendition.playlist_listeners.discard(self._changed)

    def _changed(self, rendition: Rendition) -> None:
        groups = self._waiting.get(rendition)
        if not groups:
            return
        started = time.perf_counter()
        released = False
        for key, group in list(groups.items()):
            ready = rendition.has_part(*key)
            if not (ready or rendition.ended):
                continue
            self._forget(rendition, key)
            released = True
            try:
                self._answer(list(group.values()), ready=ready)
            except Exception:  # never let an answer break the packager that notified us
                log.exception("answering held playlist requests failed")
        if released:
            self.record.metrics.held_release.observe(time.perf_counter() - started)

    def _sweep(self) -> None:
        self._sweeper = None
        now = time.perf_counter()
        for rendition, groups in list(self._waiting.items()):
            for key, group in list(groups.items()):
                late = [held for held in group.values() if held.deadline <= now]
                for held in late:
                    del group[id(held.protocol)]
                if not group:
                    self._forget(rendition, key)
                if late:
                    self._answer(late, ready=False)
        if self._waiting:
            self._sweeper = asyncio.get_running_loop().call_later(SWEEP_SECONDS, self._sweep)

    def _answer(self, waiting: list[_Held], *, ready: bool) -> None:
        """Answer requests held for the same part: each variant's bytes are built once."""
        built: dict[Hashable, tuple[Reply, bytes]] = {}
        durations: dict[tuple[str, int], list[float]] = {}
        common = _common_headers(waiting[0].protocol.server_state.default_headers)
        now = time.perf_counter()
        for held in waiting:
            found = built.get(held.hold.variant)
            if found is None:
                reply = held.hold.then() if ready else held.hold.expired()
                found = built[held.hold.variant] = (reply, response_head(reply) + common)
            reply, head = found
            held.protocol.finish(held.cycle, reply, head, held.rid)
            durations.setdefault((held.method, reply.status), []).append(now - held.started)
        path = waiting[0].path
        for (method, status), elapsed in durations.items():
            self.record.many(method, path, route_label(path), status, elapsed)


def _common_headers(default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """uvicorn's default headers (Date, and Server when configured) as header lines."""
    return b"".join(b"%s: %s\r\n" % pair for pair in default_headers)


class OriginHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering origin requests itself when it can."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        state = config.app.state  # type: ignore[union-attr]
        self.origin: HlsOrigin = state.origin
        self.held_requests: HeldRequests = state.held_requests
        self._held: _Held | None = None
        self._read_paused_for_writes = False

    def on_headers_complete(self) -> None:
        self._unset_keepalive_if_required()
        cycle = self.cycle
        if (
            self.url.startswith(ORIGIN_PREFIXES)
            and (cycle is None or cycle.response_complete)
            and not self.parser.should_upgrade()
            and self._answer()
        ):
            return
        super().on_headers_complete()

    def _answer(self) -> bool:
        """Answer the request from the origin now (True), or leave it to ASGI (False)."""
        try:
            parsed = httptools.parse_url(self.url)
            path = parsed.path.decode("ascii")
        except (httptools.HttpParserInvalidURLError, UnicodeDecodeError):
            return False  # uvicorn answers it 400
        if "%" in path:
            return False  # uvicorn unquotes it
        started = time.perf_counter()
        method = self.parser.get_method().decode("ascii")
        try:
            outcome = self.origin.answer(method, path, parsed.query or b"", self.headers)
        except Exception:  # a bug: let the ASGI path answer it (a 500 problem), not the parser
            log.exception("the origin could not answer on the wire", extra={"path": path})
            return False
        if isinstance(outcome, Wait):
            return False
        version = self.parser.get_http_version()
        cycle = _WireCycle(version != "1.0" and self.parser.should_keep_alive())
        self.cycle = cast(Any, cycle)
        rid = request_id(header(self.headers, b"x-request-id"))
        if isinstance(outcome, Hold):
            held = _Held(self, cycle, outcome, method, path, rid, started)
            self._held = held
            self.held_requests.add(held)
            return True
        head = response_head(outcome) + _common_headers(self.server_state.default_headers)
        self.finish(cycle, outcome, head, rid)
        elapsed = time.perf_counter() - started
        self.held_requests.record(method, path, route_label(path), outcome.status, elapsed)
        return True

    def finish(self, cycle: _WireCycle, reply: Reply, head: bytes, rid: str) -> None:
        """Write ``reply``, whose status and header lines (uvicorn's default headers included)
        are ``head``, and end the request."""
        self._held = None
        if cycle.disconnected or self.transport.is_closing():
            return
        ending = b"x-request-id: %s\r\n\r\n" % rid.encode("latin-1")
        if not cycle.keep_alive:
            ending = b"connection: close\r\n" + ending
        if reply.head or len(reply.body) < SMALL_BODY:
            self.transport.write(b"".join((head, ending, b"" if reply.head else reply.body)))
        else:  # one writev, without copying the body
            self.transport.writelines((head + ending, reply.body))
        cycle.response_complete = True
        if not cycle.keep_alive:
            self.transport.close()
            return
        self.on_response_complete()  # uvicorn: the next pipelined request, or keep-alive
        if self.flow.write_paused and not self._read_paused_for_writes:
            # The client is not reading what we write: read no more requests until it does.
            self._read_paused_for_writes = True
            self.flow.pause_reading()

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._read_paused_for_writes:
            self._read_paused_for_writes = False
            self.flow.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._held is not None:
            self.held_requests.drop(self._held)
            self._held = None
        super().connection_lost(exc)

    def shutdown(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            held.cycle.keep_alive = False
            self.held_requests.expire(held)
            return
        super().shutdown()
