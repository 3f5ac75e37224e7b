"""One live stream, written by one publisher and read by any number of readers.

The publisher calls :meth:`Stream.write` synchronously; it never blocks and never awaits. Each
:class:`Reader` has its own bounded queue, so a slow reader only ever hurts itself:

* **Drop rule.** When a unit arrives and the reader already holds ``maxsize`` units, that unit is
  dropped and the reader *resyncs*: it drops every following unit, audio included, until a sync
  point arrives for which it has room. A sync point is a video keyframe when the stream has
  video, and any audio unit in an audio-only stream. Dropping audio along with video keeps the
  two in step, and the queued units before the gap remain decodable. Every dropped unit is
  counted; the stream logs a per-reader summary at most once per ``drop_log_interval``.
* **Late join.** A new reader first receives the current :class:`StreamConfig` (tracks and
  metadata), then the cached group of pictures: every unit since the last sync point, so it
  starts at the latest keyframe (or, audio-only, at the newest unit). When the cache overflowed
  its bounds or does not fit in the reader's queue, the reader waits for the next sync point.
* **Config changes.** :meth:`Stream.set_tracks` and :meth:`Stream.set_metadata` put a new
  :class:`StreamConfig` in every reader's queue, in order with the units; configs are never
  dropped, and consecutive ones are coalesced.

Everything runs on the event loop's thread: ``write`` wakes readers through an
:class:`asyncio.Event` per reader, created lazily by the reader on its loop, and only when the
reader has drained its queue, so a busy reader costs no future per unit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from livecast.errors import Conflict, LivecastError
from livecast.media.unit import Track, TrackKind, Unit

logger = logging.getLogger(__name__)

Clock = Callable[[], float]


class StreamClosed(LivecastError):
    """The stream has ended, or the reader was removed: no more items will come."""

    status = 410
    title = "Stream closed"


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """The stream's tracks and its publisher metadata (``onMetaData``), as one snapshot."""

    tracks: tuple[Track, ...] = ()
    metadata: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    def track(self, kind: TrackKind) -> Track | None:
        return next((track for track in self.tracks if track.kind == kind), None)


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """Bounds for a stream; one value shared by every stream a registry creates."""

    reader_maxsize: int = 1024  # units per reader queue, when add_reader gets no maxsize
    gop_max_units: int = 2048  # a longer group of pictures is not cached
    gop_max_bytes: int = 64 * 1024 * 1024
    drop_log_interval: float | None = 10.0  # seconds between drop summaries; None: never log


Item = Unit | StreamConfig


class Reader:
    """One consumer of a :class:`Stream`: ``async for item in reader`` or ``await reader.get()``.

    Items are :class:`Unit` or :class:`StreamConfig`. When the stream closes, the reader first
    delivers what it already holds, then ends; when it is removed, it ends at once.
    """

    __slots__ = (
        "_closed",
        "_counting",
        "_items",
        "_reported",
        "_stream",
        "_syncing",
        "_units",
        "_wakeup",
        "dropped",
        "maxsize",
        "name",
    )

    def __init__(self, stream: Stream, name: str, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"reader maxsize must be at least 1, not {maxsize}")
        self.name = name
        self.maxsize = maxsize
        self.dropped = 0  # units dropped because this reader was too slow
        self._stream = stream
        self._items: deque[Item] = deque()
        self._units = 0  # units (not configs) in _items
        self._syncing = True  # refusing units until a sync point
        self._counting = False  # whether units refused while syncing count as dropped
        self._reported = 0  # part of `dropped` already in a drop summary
        self._wakeup: asyncio.Event | None = None
        self._closed = False

    @property
    def qsize(self) -> int:
        """Units waiting in this reader's queue."""
        return self._units

    async def get(self) -> Item:
        """The next item; raises :class:`StreamClosed` once the stream has ended."""
        if not self._items:
            await self._wait()
        return self._pop()

    def get_nowait(self) -> Item:
        """The next item if one is queued, else :class:`asyncio.QueueEmpty` (or StreamClosed)."""
        if not self._items:
            if self._closed:
                raise StreamClosed(f"stream {self._stream.stream_id!r} has ended")
            raise asyncio.QueueEmpty
        return self._pop()

    async def get_batch(self, max_items: int = 64) -> list[Item]:
        """Between 1 and ``max_items`` items, waiting only if none is queued."""
        if not self._items:
            await self._wait()
        return [self._pop() for _ in range(min(max_items, len(self._items)))]

    def close(self) -> None:
        """Stop reading: leave the stream and discard what is queued."""
        self._stream.remove_reader(self)

    def __aiter__(self) -> Reader:
        return self

    async def __anext__(self) -> Item:
        try:
            return await self.get()
        except StreamClosed:
            raise StopAsyncIteration from None

    async def _wait(self) -> None:
        while not self._items:
            if self._closed:
                raise StreamClosed(f"stream {self._stream.stream_id!r} has ended")
            if self._wakeup is None:
                self._wakeup = asyncio.Event()
            else:
                self._wakeup.clear()
            await self._wakeup.wait()

    def _pop(self) -> Item:
        item = self._items.popleft()
        if item.__class__ is Unit:
            self._units -= 1
        return item

    def _offer(self, unit: Unit, sync: bool) -> bool:
        """Queue ``unit`` or drop it by the drop rule; True when a drop was counted."""
        if self._syncing:
            if not sync or self._units >= self.maxsize:
                if self._counting:
                    self.dropped += 1
                return self._counting
            self._syncing = False
        elif self._units >= self.maxsize:
            self._syncing = self._counting = True
            self.dropped += 1
            return True
        self._items.append(unit)
        self._units += 1
        if self._wakeup is not None:
            self._wakeup.set()
        return False

    def _offer_config(self, config: StreamConfig) -> None:
        if self._items and self._items[-1].__class__ is StreamConfig:
            self._items[-1] = config
        else:
            self._items.append(config)
        if self._wakeup is not None:
            self._wakeup.set()

    def _start(self, config: StreamConfig | None, gop: list[Unit]) -> None:
        if config is not None:
            self._items.append(config)
        if gop and len(gop) <= self.maxsize:
            self._items.extend(gop)
            self._units = len(gop)
            self._syncing = False

    def _close(self, *, drain: bool) -> None:
        self._closed = True
        if not drain:
            self._items.clear()
            self._units = 0
        if self._wakeup is not None:
            self._wakeup.set()


class Stream:
    """A live stream (or one rendition of it): codec config, metadata, units, readers.

    ``write``, ``set_tracks`` and the reader methods must run on the readers' event loop thread.
    """

    def __init__(
        self, stream_id: str, options: StreamOptions | None = None, *, clock: Clock = time.monotonic
    ) -> None:
        self.stream_id = stream_id
        self.units_written = 0
        self._options = options or StreamOptions()
        self._clock = clock
        self._config = StreamConfig()
        self._config_set = False
        self._readers: list[Reader] = []
        self._gop: list[Unit] = []
        self._gop_bytes = 0
        self._gop_open = False  # _gop holds every unit since the last sync point
        self._has_video = False
        self._closed = False
        self._drops_pending = False
        self._last_drop_log = clock()
        self._removed_drops: dict[str, int] = {}
        self._config_changed: asyncio.Event | None = None

    @property
    def config(self) -> StreamConfig:
        return self._config

    async def config_change(self, seen: StreamConfig | None = None) -> StreamConfig:
        """The config once one is set that is not ``seen``; waiting costs no reader queue.

        Raises :class:`StreamClosed` when the stream ends first.
        """
        while not self._closed and (not self._config_set or self._config is seen):
            if self._config_changed is None:
                self._config_changed = asyncio.Event()
            await self._config_changed.wait()
        if self._closed:
            raise StreamClosed(f"stream {self.stream_id!r} has ended")
        return self._config

    def _wake_config_waiters(self) -> None:
        changed, self._config_changed = self._config_changed, None
        if changed is not None:
            changed.set()

    @property
    def readers(self) -> tuple[Reader, ...]:
        return tuple(self._readers)

    @property
    def closed(self) -> bool:
        return self._closed

    def set_tracks(self, tracks: Sequence[Track]) -> None:
        """Announce the codec configuration; a change restarts the GOP cache."""
        tracks = tuple(tracks)
        if self._config_set and tracks == self._config.tracks:
            return
        self._has_video = any(track.kind == "video" for track in tracks)
        self._reset_gop(open_=False)
        self._publish_config(replace(self._config, tracks=tracks))

    def set_metadata(self, metadata: Mapping[str, object]) -> None:
        """Announce publisher metadata, e.g. the ``onMetaData`` properties."""
        self._publish_config(replace(self._config, metadata=MappingProxyType(dict(metadata))))

    def write(self, unit: Unit) -> None:
        """Hand ``unit`` to every reader. Never blocks; slow readers drop (see module docs)."""
        if self._closed:
            raise StreamClosed(f"stream {self.stream_id!r} has ended")
        self.units_written += 1
        video = unit.kind == "video"
        if video:
            self._has_video = True
        sync = unit.keyframe and (video or not self._has_video)
        self._cache(unit, sync)
        dropped = False
        for reader in self._readers:
            if reader._offer(unit, sync):
                dropped = True
        if dropped or self._drops_pending:
            self._note_drops()

    def add_reader(self, name: str, maxsize: int | None = None) -> Reader:
        """A new reader that starts with the config and the cached GOP (see module docs)."""
        if self._closed:
            raise StreamClosed(f"stream {self.stream_id!r} has ended")
        reader = Reader(self, name, self._options.reader_maxsize if maxsize is None else maxsize)
        reader._start(self._config if self._config_set else None, self._gop)
        self._readers.append(reader)
        return reader

    def remove_reader(self, reader: Reader) -> None:
        """Detach ``reader``; it ends at once. Removing it twice is harmless."""
        if reader in self._readers:
            self._readers.remove(reader)
            unreported = reader.dropped - reader._reported
            if unreported:
                self._removed_drops[reader.name] = (
                    self._removed_drops.get(reader.name, 0) + unreported
                )
        reader._close(drain=False)

    def close(self) -> None:
        """End the stream: readers deliver what they hold, then end."""
        if self._closed:
            return
        self._closed = True
        for reader in self._readers:
            reader._close(drain=True)
        if self._options.drop_log_interval is not None:
            self._log_drops()
        self._readers.clear()
        self._reset_gop(open_=False)
        self._wake_config_waiters()

    def take_drop_summary(self) -> dict[str, int]:
        """Units dropped per reader name since the previous summary; resets the counts."""
        summary = self._removed_drops
        self._removed_drops = {}
        for reader in self._readers:
            new = reader.dropped - reader._reported
            if new:
                summary[reader.name] = summary.get(reader.name, 0) + new
                reader._reported = reader.dropped
        self._drops_pending = False
        return summary

    def _publish_config(self, config: StreamConfig) -> None:
        self._config = config
        self._config_set = True
        for reader in self._readers:
            reader._offer_config(config)
        self._wake_config_waiters()

    def _cache(self, unit: Unit, sync: bool) -> None:
        if sync:
            self._reset_gop(open_=True)
        elif not self._gop_open:
            return
        size = len(unit.payload)
        options = self._options
        if (
            len(self._gop) >= options.gop_max_units
            or self._gop_bytes + size > options.gop_max_bytes
        ):
            self._reset_gop(open_=False)
            return
        self._gop.append(unit)
        self._gop_bytes += size

    def _reset_gop(self, *, open_: bool) -> None:
        self._gop = []
        self._gop_bytes = 0
        self._gop_open = open_

    def _note_drops(self) -> None:
        self._drops_pending = True
        interval = self._options.drop_log_interval
        if interval is not None and self._clock() - self._last_drop_log >= interval:
            self._log_drops()

    def _log_drops(self) -> None:
        self._last_drop_log = self._clock()
        summary = self.take_drop_summary()
        if summary:
            logger.warning(
                "stream %s: readers too slow, units dropped: %s",
                self.stream_id,
                ", ".join(f"{name}={count}" for name, count in sorted(summary.items())),
            )


class StreamRegistry:
    """The live streams of this process, keyed by stream id; the app creates one.

    A closed stream counts as absent: ``get`` skips it and ``create`` replaces it.
    """

    def __init__(
        self, options: StreamOptions | None = None, *, clock: Clock = time.monotonic
    ) -> None:
        self._options = options or StreamOptions()
        self._clock = clock
        self._streams: dict[str, Stream] = {}

    def create(self, stream_id: str) -> Stream:
        """A new stream; :class:`~livecast.errors.Conflict` if one is live under this id."""
        if self.get(stream_id) is not None:
            raise Conflict(f"stream {stream_id!r} is already live")
        stream = Stream(stream_id, self._options, clock=self._clock)
        self._streams[stream_id] = stream
        return stream

    def get(self, stream_id: str) -> Stream | None:
        stream = self._streams.get(stream_id)
        return stream if stream is not None and not stream.closed else None

    def remove(self, stream_id: str) -> None:
        """Close and forget the stream; unknown ids are ignored."""
        stream = self._streams.pop(stream_id, None)
        if stream is not None:
            stream.close()

    def __contains__(self, stream_id: object) -> bool:
        return isinstance(stream_id, str) and self.get(stream_id) is not None

    def __iter__(self) -> Iterator[Stream]:
        return iter([stream for stream in self._streams.values() if not stream.closed])

    def __len__(self) -> int:
        return sum(1 for stream in self._streams.values() if not stream.closed)
