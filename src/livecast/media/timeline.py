"""Turn a publisher's RTMP timestamps into one continuous, monotonic timeline per stream.

RTMP timestamps are 32-bit milliseconds that wrap after about 49.7 days, and publishers send
odd ones: a reset to zero when an encoder restarts, a jump forward after a stall, a step back
by a few milliseconds, and a fresh start at zero after every reconnect. Packagers need decode
timestamps that only ever increase. :class:`TimestampNormalizer` maps each track's raw
timestamps to output dts (milliseconds, starting at 0 for the stream's first unit):

* a step forward within ``jump_threshold_ms`` is kept as is; so is every 32-bit wrap;
* a step forward beyond ``jump_threshold_ms``, or back beyond ``backward_tolerance_ms``, is a
  jump: the track is rebased to continue one frame after its last output, and counted;
* a smaller step back, or a repeated timestamp, is clamped to one millisecond after the last
  output, and counted, without rebasing; the timestamps that follow are not shifted;
* after :meth:`TimestampNormalizer.new_session` (the publisher reconnected), the new session's
  first unit continues one frame after the latest dts of any track, the other tracks keep their
  offset relative to it, and each track's first unit is marked as a discontinuity.

Each track rebases on its own, so a jump in only one track cannot drag the other along; when
both jump together the tracks stay in step to within one frame. "One frame" is the last normal
step seen on the track, ``default_frame_ms`` until one has been seen.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

_WRAP = 1 << 32
_HALF_WRAP = 1 << 31
# A normal step longer than this is a gap, not a frame duration.
_MAX_FRAME_MS = 1000


@dataclass(frozen=True, slots=True)
class Timestamp:
    """A normalized timestamp: ``dts`` in milliseconds, and the stream's media time."""

    dts: int
    media_time_ms: int  # milliseconds since the stream's first unit
    discontinuity: bool = False  # first unit of its track after a publisher reconnect


class _TrackClock:
    __slots__ = ("extended", "frame_ms", "last_out", "last_raw", "offset", "session")

    def __init__(self, raw: int, offset: int, frame_ms: int, session: int) -> None:
        self.last_raw = raw
        self.extended = raw  # raw timestamp with 32-bit wraps unrolled
        self.offset = offset  # output = extended + offset
        self.last_out: int | None = None
        self.frame_ms = frame_ms
        self.session = session


class TimestampNormalizer:
    """Per-stream timestamp normalizer used by ingest; see the module docs for the rules."""

    def __init__(
        self,
        *,
        jump_threshold_ms: int = 10_000,
        backward_tolerance_ms: int = 250,
        default_frame_ms: int = 20,
    ) -> None:
        self.jump_threshold_ms = jump_threshold_ms
        self.backward_tolerance_ms = backward_tolerance_ms
        self.default_frame_ms = default_frame_ms
        self.forward_jumps = 0
        self.backward_jumps = 0
        self.clamped = 0  # small steps back and repeated timestamps
        self.sessions = 1
        self._session_offset: int | None = None
        self._tracks: dict[Hashable, _TrackClock] = {}

    @property
    def last_dts(self) -> int | None:
        """The latest dts emitted on any track."""
        outs = [clock.last_out for clock in self._tracks.values() if clock.last_out is not None]
        return max(outs, default=None)

    def new_session(self) -> None:
        """The publisher reconnected: continue the timeline from the next unit of any track."""
        self.sessions += 1
        self._session_offset = None

    def normalize(self, track: Hashable, raw_ms: int) -> Timestamp:
        """Map a raw RTMP timestamp (milliseconds, modulo 2**32) of ``track`` to the timeline."""
        raw = raw_ms % _WRAP
        if self._session_offset is None:
            self._session_offset = self._resume_at() - raw
        clock = self._tracks.get(track)
        if clock is None:
            clock = _TrackClock(raw, self._session_offset, self.default_frame_ms, self.sessions)
            self._tracks[track] = clock
            return self._emit(clock, self._first(clock, raw), self.sessions > 1)
        if clock.session != self.sessions:
            clock.session, clock.last_raw, clock.extended = self.sessions, raw, raw
            clock.offset = self._session_offset
            return self._emit(clock, self._first(clock, raw), True)
        clock.extended += (raw - clock.last_raw + _HALF_WRAP) % _WRAP - _HALF_WRAP
        clock.last_raw = raw
        return self._emit(clock, self._step(clock, clock.extended + clock.offset), False)

    def _resume_at(self) -> int:
        ends = [c.last_out + c.frame_ms for c in self._tracks.values() if c.last_out is not None]
        return max(ends, default=0)

    def _first(self, clock: _TrackClock, raw: int) -> int:
        """Output for a track's first unit of a session: after its last output, never below 0."""
        candidate = raw + clock.offset
        if clock.last_out is None:
            target = max(candidate, 0)
        elif candidate <= clock.last_out:
            target = clock.last_out + clock.frame_ms
        else:
            return candidate
        clock.offset += target - candidate
        return target

    def _step(self, clock: _TrackClock, candidate: int) -> int:
        assert clock.last_out is not None  # set by _emit for every known track
        step = candidate - clock.last_out
        if 0 < step <= self.jump_threshold_ms:
            if step <= _MAX_FRAME_MS:
                clock.frame_ms = step
            return candidate
        if step > 0 or -step > self.backward_tolerance_ms:
            if step > 0:
                self.forward_jumps += 1
            else:
                self.backward_jumps += 1
            out = clock.last_out + clock.frame_ms
            clock.offset += out - candidate
            return out
        self.clamped += 1
        return clock.last_out + 1

    @staticmethod
    def _emit(clock: _TrackClock, out: int, discontinuity: bool) -> Timestamp:
        clock.last_out = out
        return Timestamp(out, out, discontinuity)
