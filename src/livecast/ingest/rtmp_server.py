"""The RTMP server: a thin asyncio adapter over the sans-I/O :class:`ServerSession`.

Each connection is an :class:`asyncio.Protocol`: bytes go from ``data_received`` straight into
the session and media straight into the live stream, with no task switch, future or timer per
read. That is the ingest hot path. Only the publish decision awaits (a database lookup); the
connection stops reading meanwhile.

The adapter enforces what the protocol core cannot see: a connection limit, a setup deadline
(handshake to publish/play, which also defeats slowloris trickling), an idle timeout, and
closing with a log line when the peer breaks the protocol. Nothing a peer sends can raise out
of a connection, so one bad peer never disturbs another stream.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, cast

from livecast.errors import ProtocolError
from livecast.ingest.flv_units import sequence_header, unit_tag
from livecast.ingest.live import LiveStream, LiveStreams, PlayRefused, PublishRefused
from livecast.media.stream import Reader, StreamClosed, StreamConfig
from livecast.protocols.rtmp import events as ev
from livecast.protocols.rtmp.session import ServerSession, SessionConfig

log = logging.getLogger(__name__)

TIMER_INTERVAL = 1.0  # seconds between a connection's timeout checks


@dataclass(frozen=True, slots=True)
class RtmpLimits:
    max_connections: int = 1000
    setup_timeout: float = 10.0
    idle_timeout: float = 30.0
    player_queue: int = 2048  # units a player may lag before it drops to the next keyframe


@dataclass(slots=True)
class RtmpCounters:
    accepted: int = 0
    refused_over_limit: int = 0
    protocol_errors: int = 0
    timeouts: int = 0
    publishes_refused: int = 0


class RtmpServer:
    def __init__(
        self,
        live: LiveStreams,
        host: str,
        port: int,
        limits: RtmpLimits | None = None,
        session_config: SessionConfig | None = None,
    ) -> None:
        self.live = live
        self.host = host
        self.port = port
        self.limits = limits or RtmpLimits()
        self.session_config = session_config or SessionConfig()
        self.counters = RtmpCounters()
        self.connections: set[RtmpConnection] = set()
        self.started = asyncio.Event()

    async def serve(self) -> None:
        """Listen until cancelled, then close every connection."""
        loop = asyncio.get_running_loop()
        # A burst of publishers (every encoder reconnecting after a network blip) must not
        # overflow the accept queue; asyncio's default backlog is 100.
        backlog = min(self.limits.max_connections, 4096)
        server = await loop.create_server(
            lambda: RtmpConnection(self), self.host, self.port, backlog=backlog
        )
        self.port = server.sockets[0].getsockname()[1]
        log.info("rtmp listening", extra={"host": self.host, "port": self.port})
        self.started.set()
        try:
            async with server:
                await server.serve_forever()
        finally:
            connections = list(self.connections)
            for conn in connections:
                conn.close("the server is shutting down")
            await asyncio.gather(*(conn.closed for conn in connections), return_exceptions=True)


class RtmpConnection(asyncio.Protocol):
    """One client connection: a publisher or a player."""

    def __init__(self, server: RtmpServer) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.session = ServerSession(server.session_config)
        self.closed: asyncio.Future[None] = self.loop.create_future()
        self.peer = "unknown"
        self.ip = "unknown"
        self.publishing: LiveStream | None = None
        self.playing: LiveStream | None = None
        self._transport: asyncio.Transport | None = None
        self._deadline = self.loop.time() + server.limits.setup_timeout
        self._last_read = self.loop.time()
        self._last_write = 0.0  # a player mostly receives: sending counts as activity
        self._timer: asyncio.TimerHandle | None = None
        self._deciding: asyncio.Task[None] | None = None
        self._pump: asyncio.Task[None] | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self._close_reason: str | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        address = transport.get_extra_info("peername")
        if isinstance(address, tuple):
            self.ip = str(address[0])
            self.peer = f"{address[0]}:{address[1]}"
        server = self.server
        if len(server.connections) >= server.limits.max_connections:
            server.counters.refused_over_limit += 1
            log.warning("rtmp connection refused: limit reached", extra={"peer": self.peer})
            self._close_reason = "connection limit reached"
            transport.abort()
            return
        server.counters.accepted += 1
        server.connections.add(self)
        self._timer = self.loop.call_later(TIMER_INTERVAL, self._check_timeouts)

    def data_received(self, data: bytes) -> None:
        self._last_read = self.loop.time()
        try:
            self.session.receive_data(data)
            self._handle_events()
        except ProtocolError as exc:
            self._fail(exc.detail)
        except Exception:
            log.exception("rtmp connection failed unexpectedly", extra={"peer": self.peer})
            self.close("internal error")

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in (self._deciding, self._pump):
            if task is not None:
                task.cancel()
        self._stop_media()
        self._writable.set()
        if self in self.server.connections:
            self.server.connections.discard(self)
            reason = self._close_reason or (
                f"connection error: {exc.__class__.__name__}"
                if exc
                else "peer closed the connection"
            )
            log.info("rtmp connection closed", extra={"peer": self.peer, "reason": reason})
        if not self.closed.done():
            self.closed.set_result(None)

    # -- control ------------------------------------------------------------------------------

    def close(self, reason: str) -> None:
        """Close the connection (also from elsewhere: API end, shutdown), after pending output."""
        if self._close_reason is None:
            self._close_reason = reason
        if self._transport is not None and not self._transport.is_closing():
            self._flush()
            self._transport.close()

    def _fail(self, reason: str) -> None:
        self.server.counters.protocol_errors += 1
        log.warning("rtmp protocol error; closing", extra={"peer": self.peer, "reason": reason})
        self.close(f"protocol error: {reason}")

    def _check_timeouts(self) -> None:
        now = self.loop.time()
        active = self.publishing is not None or self.playing is not None
        if not active and self._deciding is None and now >= self._deadline:
            self.server.counters.timeouts += 1
            self.close("setup timeout")
        elif now - max(self._last_read, self._last_write) >= self.server.limits.idle_timeout:
            self.server.counters.timeouts += 1
            self.close("idle timeout")
        else:
            self._timer = self.loop.call_later(TIMER_INTERVAL, self._check_timeouts)

    def _flush(self) -> None:
        data = self.session.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)
            self._last_write = self.loop.time()

    # -- events -------------------------------------------------------------------------------

    def _handle_events(self) -> None:
        while self._deciding is None and (events := self.session.events_received()):
            for event in events:
                self._handle(event)
        self._flush()
        if self.session.should_close:
            self.close(self.session.failure_reason or "closed by the server")
            if self.session.failure_reason:
                self.server.counters.protocol_errors += 1
                log.warning(
                    "rtmp protocol error; closing",
                    extra={"peer": self.peer, "reason": self.session.failure_reason},
                )

    def _handle(self, event: ev.Event) -> None:
        match event:
            case ev.MediaReceived(kind=kind, timestamp_ms=ts, payload=payload):
                if self.publishing is not None:
                    self.publishing.add(kind, ts, payload)
            case ev.MetadataReceived(metadata=metadata):
                if self.publishing is not None:
                    self.publishing.set_metadata(metadata)
            case ev.PublishRequested(stream_key=key):
                assert self._transport is not None
                self._transport.pause_reading()
                self._deciding = asyncio.create_task(self._publish(key), name="rtmp-publish")
            case ev.PlayRequested(name=name):
                self._play(name)
            case ev.PublishEnded() | ev.PlayEnded():
                self._stop_media()
            case ev.ConnectionFailed():
                pass  # reported once the session says it should close

    async def _publish(self, key: str) -> None:
        try:
            live = await self.server.live.begin_publish(key, self.ip, self)
        except PublishRefused as exc:
            self.server.counters.publishes_refused += 1
            log.warning(
                "publish refused", extra={"peer": self.peer, "code": exc.code, "reason": exc.detail}
            )
            self.session.reject_publish(exc.code, exc.detail)
        except Exception:
            log.exception("publish failed", extra={"peer": self.peer})
            self.session.reject_publish("NetStream.Publish.BadName", "Internal error.")
        else:
            if self._transport is None or self._transport.is_closing():
                self.server.live.end_publish(live, self)
                return
            self.publishing = live
            self.session.accept_publish()
        finally:
            self._deciding = None
        self.data_received(b"")  # handle what the session held back while we decided
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    def _play(self, name: str) -> None:
        try:
            live = self.server.live.authorize_play(name)
        except PlayRefused as exc:
            log.info("play refused", extra={"peer": self.peer, "reason": exc.detail})
            self.session.reject_play(description=exc.detail)
            return
        self.session.accept_play()
        self.playing = live
        live.players.add(self)
        reader = live.media.add_reader(f"rtmp-play {self.peer}", self.server.limits.player_queue)
        self._pump = asyncio.create_task(self._send_media(reader), name=f"rtmp-play-{self.peer}")

    async def _send_media(self, reader: Reader) -> None:
        session = self.session
        try:
            while True:
                for item in await reader.get_batch(256):
                    if isinstance(item, StreamConfig):
                        self._send_config(item)
                        continue
                    body = unit_tag(item)
                    if body is None:
                        continue
                    if item.kind == "video":
                        session.send_video(item.dts, body)
                    else:
                        session.send_audio(item.dts, body)
                self._flush()
                await self._writable.wait()
        except StreamClosed:
            self.close("the stream ended")
        finally:
            reader.close()

    def _send_config(self, config: StreamConfig) -> None:
        if config.metadata:
            metadata: dict[str, Any] = dict(config.metadata)
            self.session.send_metadata(metadata)
        for track in config.tracks:
            header = sequence_header(track)
            if header is None:
                continue
            if track.kind == "video":
                self.session.send_video(0, header)
            else:
                self.session.send_audio(0, header)

    def _stop_media(self) -> None:
        if self.publishing is not None:
            self.server.live.end_publish(self.publishing, self)
            self.publishing = None
        if self.playing is not None:
            self.playing.players.discard(self)
            self.playing = None
        if self._pump is not None and self._pump is not asyncio.current_task():
            self._pump.cancel()
        self._pump = None
