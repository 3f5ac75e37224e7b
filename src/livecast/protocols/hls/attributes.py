"""Value types of HLS attribute lists (RFC 8216bis, 4.2), formatted for playlists.

A live playlist is re-rendered on every request while most of its segments stay the same, so
the two costly formatters are memoised; both are pure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from functools import lru_cache


@lru_cache(maxsize=4096)
def decimal(seconds: float | Fraction, places: int = 5) -> str:
    """A decimal-floating-point: ``places`` decimals, trailing zeros trimmed (``2.0``, ``0.33334``).

    Five places keep a 90 kHz duration within a tick of what the segment holds.
    """
    text = f"{float(seconds):.{places}f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def quoted(value: str) -> str:
    """A quoted-string; it cannot contain a double quote, CR or LF, so those are refused."""
    if '"' in value or "\n" in value or "\r" in value:
        raise ValueError(f"HLS quoted-string cannot contain quotes or line breaks: {value!r}")
    return f'"{value}"'


@lru_cache(maxsize=4096)
def date_time(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``, e.g. ``2024-05-01T12:00:00.040Z``."""
    if moment.tzinfo is None:
        raise ValueError("EXT-X-PROGRAM-DATE-TIME needs a timezone-aware datetime")
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"  # "+00:00" -> "Z"


def yes(flag: bool) -> str:
    return "YES" if flag else "NO"
