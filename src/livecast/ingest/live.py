"""Live streams on this node: who publishes what, the reconnect grace window, and playback.

Protocol servers (RTMP today) call into :class:`LiveStreams`; it checks stream keys against
their stored digests, drives the stream lifecycle through the same services the API uses, and
owns one media :class:`~livecast.media.stream.Stream` per live stream.

Lifecycle:

* an accepted publish makes the stream live (``StreamStarted``), or resumes it when it is live
  already: after a reconnect, a node restart, or a manual ``/start``;
* when the publisher leaves, the stream stays live for the grace window; a publisher that comes
  back within it continues the same timeline, marked as a discontinuity;
* after the grace window the stream ends (``StreamEnded``); ending it through the API
  disconnects the publisher and its players at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs

from livecast.context import AppContext
from livecast.domain.stream_lifecycle import StreamStatus
from livecast.errors import AuthenticationError, BadRequest, LivecastError, RateLimited
from livecast.events.catalog import (
    DomainEvent,
    StreamEnded,
    StreamUpdated,
    TranscodeStateChanged,
)
from livecast.ingest.flv_units import FlvDepacketizer
from livecast.ingest.stats import IngestStats, describe_track
from livecast.media.stream import Stream, StreamRegistry
from livecast.media.timeline import TimestampNormalizer
from livecast.media.unit import Unit
from livecast.packaging.packager import PackagingOptions
from livecast.packaging.registry import Packagers
from livecast.security.ratelimit import RateLimiter
from livecast.storage.models import Stream as StreamRecord
from livecast.transcode.config import transcode_config
from livecast.transcode.encoders import EncoderUnavailable
from livecast.transcode.manager import JobState, LadderObserver, Transcoders
from livecast.transcode.metrics import TranscodeCollector
from livecast.transcode.thumbnails import Thumbnails

log = logging.getLogger(__name__)

RejectCode = Literal["NetStream.Publish.BadName", "NetStream.Publish.Unauthorized"]
_METADATA_KEYS = (
    "width",
    "height",
    "framerate",
    "videodatarate",
    "audiodatarate",
    "videocodecid",
    "audiocodecid",
    "audiosamplerate",
    "encoder",
)


class PublishRefused(LivecastError):
    def __init__(self, code: RejectCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code


class PlayRefused(LivecastError):
    pass


class Connection(Protocol):
    """What the manager needs of a protocol connection."""

    peer: str

    def close(self, reason: str) -> None: ...


@dataclass(eq=False)
class LiveStream:
    id: uuid.UUID
    owner_id: uuid.UUID
    visibility: str
    media: Stream
    normalizer: TimestampNormalizer
    depacketizer: FlvDepacketizer
    stats: IngestStats
    publisher: Connection | None = None
    players: set[Connection] = field(default_factory=set)
    transcode: Callable[[], dict[str, Any] | None] = lambda: None

    def add(self, kind: Literal["audio", "video"], timestamp_ms: int, body: bytes) -> None:
        """One media message of the publisher; the hot path of ingest.

        Raises :class:`~livecast.errors.ProtocolError` for a malformed tag.
        """
        convert = self.depacketizer.video if kind == "video" else self.depacketizer.audio
        result = convert(timestamp_ms, body)
        if isinstance(result, Unit):
            self.media.write(result)
            self.stats.add(result)
        elif result is not None:
            self.media.set_tracks(list(self.depacketizer.tracks.values()))
            self.stats.tracks[result.kind] = result

    def set_metadata(self, metadata: Mapping[str, Any]) -> None:
        self.media.set_metadata(dict(metadata))
        self.stats.metadata = {k: metadata[k] for k in _METADATA_KEYS if k in metadata}

    def health(self) -> dict[str, Any]:
        stats, norm = self.stats, self.normalizer
        video_bps, audio_bps, fps = stats.rates()
        return {
            "stream_id": str(self.id),
            "publishing": self.publisher is not None,
            "uptime_seconds": round(stats.uptime_seconds(), 3),
            "reconnects": stats.reconnects,
            "video_bitrate_bps": round(video_bps),
            "audio_bitrate_bps": round(audio_bps),
            "frame_rate": round(fps, 2),
            "keyframe_interval_ms": stats.keyframe_interval_ms,
            "av_drift_ms": stats.av_drift_ms,
            "video_units": stats.video_units,
            "audio_units": stats.audio_units,
            "timestamp_jumps": norm.forward_jumps + norm.backward_jumps,
            "timestamps_clamped": norm.clamped,
            "dropped_units": self.depacketizer.counters.before_config
            + self.depacketizer.counters.unsupported,
            "reader_drops": sum(reader.dropped for reader in self.media.readers),
            "players": len(self.players),
            "tracks": {kind: describe_track(track) for kind, track in stats.tracks.items()},
            "metadata": stats.metadata,
            "transcode": self.transcode(),
        }


class LiveStreams:
    """Every live stream of this node, and the rules for publishing and playing them."""

    def __init__(self, ctx: AppContext, registry: StreamRegistry | None = None) -> None:
        self.ctx = ctx
        self.registry = registry if registry is not None else StreamRegistry()
        settings = ctx.settings
        self.grace_seconds = settings.reconnect_grace_seconds
        self.key_limiter = RateLimiter(settings.stream_key_attempts_per_minute, 60)
        self._live: dict[uuid.UUID, LiveStream] = {}
        self._grace: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._ending: set[asyncio.Task[None]] = set()  # grace tasks now ending their stream
        self._lock = asyncio.Lock()
        self._unsubscribe = ctx.bus.subscribe(self._on_event)
        self._closed = False
        self.packagers = Packagers(
            PackagingOptions(
                part_target_ms=settings.hls_part_target_ms,
                segment_target_ms=settings.hls_segment_target_ms,
                memory_segments=settings.hls_memory_segments,
                part_observer=ctx.metrics.part_publish_latency.observe,
            ),
            spill_root=settings.data_dir / "hls",
            retention_seconds=settings.hls_retention_seconds,
        )
        # An absent encoder fails here, at startup, with its name.
        self.transcoders: Transcoders | None = None
        if settings.transcode_enabled:
            self.transcoders = Transcoders(transcode_config(settings), self.registry)
            # Another LiveStreams of the same context (tests make several) registered it.
            with contextlib.suppress(ValueError):
                ctx.metrics.registry.register(TranscodeCollector(self.transcoders))
        self.thumbnails = Thumbnails(settings.thumbnail_interval_seconds)
        self._background: set[asyncio.Task[None]] = set()

    def __iter__(self) -> Any:
        return iter(list(self._live.values()))

    def get(self, stream_id: uuid.UUID) -> LiveStream | None:
        return self._live.get(stream_id)

    # -- publishing -------------------------------------------------------------------------

    async def begin_publish(self, name: str, peer_ip: str, conn: Connection) -> LiveStream:
        """Authorize a publisher by stream key and make (or keep) its stream live."""
        try:
            self.key_limiter.check(peer_ip, "failed stream key attempts")
        except RateLimited as exc:
            raise PublishRefused("NetStream.Publish.Unauthorized", exc.detail) from exc
        async with self._lock:
            try:
                return await self._authorize(name.partition("?")[0], conn)
            except PublishRefused:
                self.key_limiter.spend(peer_ip)
                raise

    async def _authorize(self, key: str, conn: Connection) -> LiveStream:
        async with self.ctx.unit_of_work() as uow:
            record = await uow.streams.by_key(key) if key else None
            if record is None:
                raise PublishRefused("NetStream.Publish.BadName", "Unknown stream key.")
            status = StreamStatus(record.status)
            if status in (StreamStatus.ENDED, StreamStatus.CANCELLED):
                raise PublishRefused(
                    "NetStream.Publish.BadName",
                    f"This stream is {status}; create a new stream to go live again.",
                )
            if record.owner.disabled:
                raise PublishRefused("NetStream.Publish.Unauthorized", "The account is disabled.")
            verdict = await uow.streams.eligibility(record.owner)
            if not verdict.eligible:
                raise PublishRefused("NetStream.Publish.Unauthorized", verdict.reason or "")
            live = self._live.get(record.id)
            if live is not None and live.publisher is not None:
                raise PublishRefused(
                    "NetStream.Publish.BadName", "This stream already has a publisher."
                )
            if status is not StreamStatus.LIVE:
                await uow.streams.start(record)
            await uow.commit()
        return self._attach(record, conn)

    def _attach(self, record: StreamRecord, conn: Connection) -> LiveStream:
        grace = self._grace.pop(record.id, None)
        if grace is not None:
            grace.cancel()
        live = self._live.get(record.id)
        reconnect = live is not None
        if live is None:
            normalizer = TimestampNormalizer()
            live = LiveStream(
                id=record.id,
                owner_id=record.user_id,
                visibility=record.visibility,
                media=self.registry.create(str(record.id)),
                normalizer=normalizer,
                depacketizer=FlvDepacketizer(normalizer),
                stats=IngestStats(),
            )
            self._live[record.id] = live
            if self.ctx.settings.hls_enabled:
                self.packagers.start(
                    record.id, live.media, record.dvr_window, public=record.visibility == "public"
                )
            self.thumbnails.start(str(record.id), live.media)
            if self.transcoders is not None:
                job = self.transcoders.start(
                    str(record.id),
                    live.media,
                    record.quality,
                    _LadderEvents(self, live),
                    record.video_codec,
                )
                live.transcode = job.status
        else:
            live.normalizer.new_session()
        live.publisher = conn
        live.stats.publisher_connected(reconnect)
        log.info(
            "publisher %s",
            "resumed" if reconnect else "started",
            extra={"stream_id": str(record.id), "peer": conn.peer},
        )
        return live

    def end_publish(self, live: LiveStream, conn: Connection) -> None:
        """The publisher left (or was cut off); keep the stream live for the grace window."""
        if live.publisher is not conn or self._live.get(live.id) is not live:
            return  # already torn down, or replaced
        live.publisher = None
        live.stats.publisher_gone()
        log.info(
            "publisher left; ending in %ss unless it returns",
            self.grace_seconds,
            extra={"stream_id": str(live.id), "peer": conn.peer},
        )
        self._schedule_end(live.id, self.grace_seconds)

    def _schedule_end(self, stream_id: uuid.UUID, delay: float) -> None:
        task = asyncio.create_task(self._end_after(stream_id, delay), name=f"grace-{stream_id}")
        self._grace[stream_id] = task

    async def _end_after(self, stream_id: uuid.UUID, delay: float) -> None:
        # The task stays in _grace until it is done, so close() waits for the database work.
        task = asyncio.current_task()
        try:
            await asyncio.sleep(delay)
            if task is not None:
                self._ending.add(task)
            async with self.ctx.unit_of_work() as uow:
                record = await uow.session.get(StreamRecord, stream_id)
                if record is not None and record.status == StreamStatus.LIVE:
                    await uow.streams.end(record)
                    await uow.commit()  # publishes StreamEnded, which tears down
                    return
            self._teardown(stream_id, "ended")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("could not end stream", extra={"stream_id": str(stream_id)})
            self._teardown(stream_id, "ended")
        finally:
            if task is not None:
                self._ending.discard(task)
            if self._grace.get(stream_id) is task:
                del self._grace[stream_id]

    async def _on_event(self, event: DomainEvent) -> None:
        if isinstance(event, StreamEnded):
            self._teardown(event.stream_id, "the stream was ended")
        elif isinstance(event, StreamUpdated) and "visibility" in event.fields:
            await self._refresh_visibility(event.stream_id)

    async def _refresh_visibility(self, stream_id: uuid.UUID) -> None:
        """A live stream's visibility changed: new players and HLS requests follow it."""
        live = self._live.get(stream_id)
        if live is None:
            return
        async with self.ctx.unit_of_work() as uow:
            record = await uow.session.get(StreamRecord, stream_id)
        if record is not None:
            live.visibility = record.visibility
            packager = self.packagers.get(stream_id)
            if packager is not None:
                packager.public = record.visibility == "public"

    def _teardown(self, stream_id: uuid.UUID, reason: str) -> None:
        grace = self._grace.pop(stream_id, None)
        if grace is not None and grace is not asyncio.current_task():
            grace.cancel()
        live = self._live.pop(stream_id, None)
        if live is None:
            return
        for conn in [live.publisher, *live.players]:
            if conn is not None:
                conn.close(reason)
        live.publisher = None
        self.registry.remove(str(stream_id))
        self.thumbnails.stop(str(stream_id))
        if self.transcoders is not None:
            self._spawn(self.transcoders.stop(str(stream_id)))
        log.info("stream torn down", extra={"stream_id": str(stream_id), "reason": reason})

    async def check_codec(self, codec: str | None) -> None:
        """Refuse a stream codec this node cannot encode, when it transcodes at all."""
        config = self.transcoders.config if self.transcoders is not None else None
        if codec is None or config is None or config.encoder_for is None:
            return
        try:
            await asyncio.to_thread(config.encoder_for, codec)
        except EncoderUnavailable as exc:
            raise BadRequest(f"This node cannot transcode to {codec}: {exc}") from exc

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background; close() waits for it."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- playing ----------------------------------------------------------------------------

    def authorize_play(self, name: str) -> LiveStream:
        """The live stream named ``<stream_id>[?token=<playback token>]``, if it may be played."""
        stream_part, _, query = name.partition("?")
        try:
            stream_id = uuid.UUID(stream_part)
        except ValueError as exc:
            raise PlayRefused("No live stream by that name.") from exc
        live = self._live.get(stream_id)
        if live is None:
            raise PlayRefused("No live stream by that name.")
        if live.visibility != "public":
            token = (parse_qs(query).get("token") or [""])[0]
            try:
                self.ctx.signer.verify_playback(token, stream_id)
            except AuthenticationError as exc:
                raise PlayRefused(f"This stream needs a playback token: {exc.detail}") from exc
        return live

    # -- node lifecycle ---------------------------------------------------------------------

    async def recover(self) -> None:
        """After a restart, streams still live in the database get one grace window.

        A publisher that reconnects (OBS and ffmpeg's reconnect options do) resumes its
        stream; one that does not return is ended instead of staying live forever.
        """
        from sqlalchemy import select

        async with self.ctx.unit_of_work() as uow:
            ids = list(
                await uow.session.scalars(
                    select(StreamRecord.id).where(StreamRecord.status == StreamStatus.LIVE)
                )
            )
        for stream_id in ids:
            if stream_id not in self._live and stream_id not in self._grace:
                self._schedule_end(stream_id, self.grace_seconds)
        if ids:
            log.info("recovering live streams", extra={"count": len(ids)})

    async def close(self) -> None:
        """Stop: disconnect everyone, but leave the streams live for the next start."""
        if self._closed:
            return
        self._closed = True
        self._unsubscribe()
        if self.transcoders is not None:
            await self.transcoders.close()
        await self.thumbnails.close()
        await asyncio.gather(*self._background, return_exceptions=True)
        tasks = list(self._grace.values())
        for task in tasks:
            if task not in self._ending:  # still waiting out the grace window: stop it
                task.cancel()
        # A task already ending its stream finishes its database work: cut off mid-query, it
        # would leak its connection.
        await asyncio.gather(*tasks, return_exceptions=True)
        for live in list(self._live.values()):
            for conn in [live.publisher, *live.players]:
                if conn is not None:
                    conn.close("the server is shutting down")
            self.registry.remove(str(live.id))
        self._live.clear()
        await self.packagers.close()


class _LadderEvents(LadderObserver):
    """One live stream's ladder, told to its packager and, as events, to everyone else."""

    def __init__(self, streams: LiveStreams, live: LiveStream) -> None:
        self.streams = streams
        self.stream_id = live.id
        self.owner_id = live.owner_id

    def rendition_added(self, rung: str, media: Stream) -> None:
        packager = self.streams.packagers.get(self.stream_id)
        if packager is not None and packager.ended_at is None:
            packager.add_rendition(rung, media)

    def rendition_removed(self, rung: str) -> None:
        packager = self.streams.packagers.get(self.stream_id)
        if packager is not None:
            packager.remove_rendition(rung)

    def state_changed(self, state: JobState, rungs: Sequence[str], reason: str | None) -> None:
        event = TranscodeStateChanged(
            stream_id=self.stream_id,
            user_id=self.owner_id,
            state=state,
            rungs=tuple(rungs),
            reason=reason or "",
        )
        self.streams._spawn(self.streams.ctx.bus.publish(event))
