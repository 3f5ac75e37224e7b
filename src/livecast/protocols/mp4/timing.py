"""Media timescales of livecast's fMP4 tracks, and exact conversion into them.

Video uses 90 kHz, the MPEG convention: the 1/1000 s timestamps RTMP delivers become exact
multiples of 90 and common frame durations (25, 30, 50, 60 fps and their 1000/1001 variants)
are integral or nearly so. Audio uses the sample rate, so that an AAC frame lasts exactly
``samples_per_frame`` ticks.

Every conversion maps an absolute timestamp on its own (rounding half up when the timebase does
not divide the timescale), never a running sum of rounded durations, so rounding cannot
accumulate into drift.
"""

from __future__ import annotations

from fractions import Fraction

from livecast.media.unit import Track

VIDEO_TIMESCALE = 90_000
_DEFAULT_AUDIO_TIMESCALE = 48_000


def track_timescale(track: Track) -> int:
    """Ticks per second of ``track``'s media timeline in the fMP4 files livecast writes."""
    if track.kind == "audio":
        return track.sample_rate or _DEFAULT_AUDIO_TIMESCALE
    return VIDEO_TIMESCALE


def scaler(timebase: Fraction, timescale: int) -> tuple[int, int]:
    """``(multiplier, divisor)`` such that ``to_timescale`` is ``(t * m + d // 2) // d``."""
    ratio = timebase * timescale
    return ratio.numerator, ratio.denominator


def to_timescale(value: int, timebase: Fraction, timescale: int) -> int:
    """``value`` ticks of ``timebase`` in ticks of ``timescale``, rounded half up."""
    multiplier, divisor = scaler(timebase, timescale)
    if divisor == 1:
        return value * multiplier
    return (value * multiplier * 2 + divisor) // (2 * divisor)
