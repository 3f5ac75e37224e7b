"""CMAF fragments: one ``moof`` (mfhd, traf: tfhd, tfdt, trun) followed by its ``mdat``.

Layout choices (ISO/IEC 14496-12, 8.8; CMAF, ISO/IEC 23000-19):

* ``tfhd`` sets default-base-is-moof, so ``trun``'s data offset counts from the first byte of
  the ``moof``: a fragment stays valid wherever it is stored or concatenated.
* ``tfdt`` is version 1: a 64-bit baseMediaDecodeTime never wraps.
* ``trun`` carries per-sample duration, size and flags, and, when any sample has pts ≠ dts,
  version-1 (signed) composition time offsets.

Sample durations. Video: the next sample's dts minus this one's; the last sample uses
``next_dts`` when the caller knows it (a packager that closes a part when the next unit arrives
does), else the previous sample's duration, else the nominal frame duration. Audio: exactly
``samples_per_frame`` per AAC frame, so the sample-rate timeline has no rounding jitter from
millisecond timestamps; only when a unit's own timestamp is more than half a frame away from
that timeline (a gap, or dropped frames) is the previous duration stretched or shortened to
meet it. :class:`Fragmenter` carries the audio timeline across fragments.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from itertools import chain, pairwise

from livecast.media.unit import Track, Unit
from livecast.protocols.mp4.init import init_segment
from livecast.protocols.mp4.timing import scaler, track_timescale

# sample_flags (14496-12, 8.8.3.1): sample_depends_on (bits 24-25) and sample_is_non_sync_sample.
SYNC_SAMPLE_FLAGS = 0x02000000  # depends on no other sample
NON_SYNC_SAMPLE_FLAGS = 0x01010000  # depends on others; not a sync sample

_TFHD_DEFAULT_BASE_IS_MOOF = 0x020000
_TRUN_DATA_OFFSET = 0x000001
_TRUN_DURATION = 0x000100
_TRUN_SIZE = 0x000200
_TRUN_FLAGS = 0x000400
_TRUN_COMPOSITION_OFFSET = 0x000800
_TRUN_BASE = _TRUN_DATA_OFFSET | _TRUN_DURATION | _TRUN_SIZE | _TRUN_FLAGS

# moof header, mfhd, traf header, tfhd, tfdt (v1) and the fixed part of trun, in one pack.
_HEAD = struct.Struct(">I4s I4sII I4s I4sII I4sIQ I4sIIi")
_TRUN_FIXED = 20  # trun header, sample_count, data_offset
_MDAT_HEADER = struct.Struct(">I4s")
_DEFAULT_FRAME_RATE = 30


@dataclass(slots=True)
class Timing:
    """Decode time of a fragment's first sample and every sample's duration and CTO, in ticks."""

    base: int
    durations: list[int]
    offsets: list[int] | None  # pts - dts per sample; None when all are zero

    @property
    def end(self) -> int:
        """Decode time just after the last sample."""
        return self.base + sum(self.durations)


def fragment(
    track: Track,
    sequence_number: int,
    units: Sequence[Unit],
    next_dts: int | None = None,
    *,
    track_id: int = 1,
) -> bytes:
    """One ``moof`` + ``mdat`` carrying ``units`` (in decode order) of ``track``.

    ``next_dts`` is the dts of the unit that will follow, in the units' timebase, if known.
    Stateless: use :class:`Fragmenter` to number fragments and keep audio gapless across them.
    """
    timing = sample_timing(track, units, next_dts)
    return write_fragment(sequence_number, track_id, timing, units)


class Fragmenter:
    """Writes one track's init segment and its fragments in order.

    It numbers fragments from ``first_sequence_number``, continues the audio timeline from one
    fragment to the next, and remembers the last video duration for single-unit fragments.
    ``decode_time`` and ``end_time`` describe the latest fragment in ``timescale`` ticks, which is
    what a DASH SegmentTimeline or an HLS EXTINF needs.
    """

    def __init__(self, track: Track, track_id: int = 1, first_sequence_number: int = 1) -> None:
        self.track = track
        self.track_id = track_id
        self.timescale = track_timescale(track)
        self.sequence_number = first_sequence_number  # of the next fragment
        self.decode_time: int | None = None
        self.end_time: int | None = None
        self._last_duration: int | None = None

    def init_segment(self) -> bytes:
        return init_segment(self.track, self.track_id)

    def fragment(self, units: Sequence[Unit], next_dts: int | None = None) -> bytes:
        """The next fragment; see :func:`fragment` for ``next_dts``."""
        timing = sample_timing(
            self.track, units, next_dts, continue_from=self.end_time, fallback=self._last_duration
        )
        data = write_fragment(self.sequence_number, self.track_id, timing, units)
        self.sequence_number += 1
        self.decode_time, self.end_time = timing.base, timing.end
        self._last_duration = timing.durations[-1]
        return data


def sample_timing(
    track: Track,
    units: Sequence[Unit],
    next_dts: int | None = None,
    *,
    continue_from: int | None = None,
    fallback: int | None = None,
) -> Timing:
    """The :class:`Timing` of ``units``, by the rules in the module docs.

    All units are read in the first one's timebase (one track has one timebase).

    ``continue_from`` is where the previous fragment of an audio track ended: the new one starts
    there unless its first unit is a discontinuity or more than half a frame away. ``fallback``
    is the last duration to use for a lone video unit without ``next_dts``.
    """
    if not units:
        raise ValueError("a fragment needs at least one unit")
    timescale = track_timescale(track)
    timebase = units[0].timebase
    dts = _convert([u.dts for u in units], timebase, timescale)
    pts = dts
    if any(u.pts != u.dts for u in units):
        pts = _convert([u.pts for u in units], timebase, timescale)
    after = None if next_dts is None else _convert([next_dts], timebase, timescale)[0]
    if track.kind == "audio":
        frame = track.samples_per_frame or 1024
        base = dts[0]
        if continue_from is not None and not units[0].discontinuity:
            base = continue_from if abs(base - continue_from) <= frame // 2 else base
        durations = _audio_durations(base, dts, after, frame)
    else:
        base = dts[0]
        durations = _video_durations(dts, after, fallback or _nominal_duration(track, timescale))
    offsets = None if pts is dts else [p - d for p, d in zip(pts, dts, strict=True)]
    return Timing(base, durations, offsets)


def _convert(values: list[int], timebase: Fraction, timescale: int) -> list[int]:
    multiplier, divisor = scaler(timebase, timescale)
    if divisor == 1:
        return [v * multiplier for v in values]
    return [(v * multiplier * 2 + divisor) // (2 * divisor) for v in values]


def _video_durations(dts: list[int], after: int | None, fallback: int) -> list[int]:
    durations = [b - a for a, b in pairwise(dts)]
    if after is not None:
        durations.append(after - dts[-1])
    else:
        durations.append(durations[-1] if durations else fallback)
    if min(durations) < 0:
        raise ValueError("decode timestamps go backwards")
    return durations


def _audio_durations(base: int, dts: list[int], after: int | None, frame: int) -> list[int]:
    half = frame // 2
    durations = []
    position = base
    targets: list[int | None] = [*dts[1:], after]
    for target in targets:
        duration = frame
        if target is not None and abs(target - position - frame) > half:
            duration = max(target - position, 1)  # resynchronise with the unit timestamps
        durations.append(duration)
        position += duration
    return durations


def _nominal_duration(track: Track, timescale: int) -> int:
    rate = track.frame_rate if track.frame_rate and track.frame_rate > 0 else _DEFAULT_FRAME_RATE
    return max(1, round(timescale / Fraction(rate)))


def write_fragment(
    sequence_number: int, track_id: int, timing: Timing, units: Sequence[Unit]
) -> bytes:
    """Serialize ``units`` with ``timing`` as one ``moof`` + ``mdat``."""
    count = len(units)
    offsets = timing.offsets
    sizes = [len(u.payload) for u in units]
    flags = [SYNC_SAMPLE_FLAGS if u.keyframe else NON_SYNC_SAMPLE_FLAGS for u in units]
    columns: tuple[list[int], ...]
    if offsets is None:
        version, trun_flags, columns = 0, _TRUN_BASE, (timing.durations, sizes, flags)
    else:
        version, trun_flags = 1, _TRUN_BASE | _TRUN_COMPOSITION_OFFSET
        columns = (timing.durations, sizes, flags, offsets)
    table = _sample_table(count, offsets is not None)
    trun_size = _TRUN_FIXED + table.size
    traf_size = 8 + 16 + 20 + trun_size
    moof_size = 8 + 16 + traf_size
    mdat_size = 8 + sum(sizes)
    head = _HEAD.pack(
        moof_size, b"moof",
        16, b"mfhd", 0, sequence_number,
        traf_size, b"traf",
        16, b"tfhd", _TFHD_DEFAULT_BASE_IS_MOOF, track_id,
        20, b"tfdt", 1 << 24, timing.base,
        trun_size, b"trun", version << 24 | trun_flags, count, moof_size + 8,
    )  # fmt: skip
    samples = table.pack(*chain.from_iterable(zip(*columns, strict=True)))
    mdat = _MDAT_HEADER.pack(mdat_size, b"mdat")
    return b"".join((head, samples, mdat, *(u.payload for u in units)))


@lru_cache(maxsize=512)
def _sample_table(count: int, with_offsets: bool) -> struct.Struct:
    return struct.Struct(">" + ("IIIi" if with_offsets else "III") * count)
