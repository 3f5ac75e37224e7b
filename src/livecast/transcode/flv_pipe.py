"""FLV as a byte stream over a pipe: units out to ffmpeg, tags back from it (sans-I/O).

The tag bodies are the ones RTMP carries (``unit_tag``/``sequence_header`` and
``FlvDepacketizer``); this module adds only the FLV file framing: the 9-byte header, the
11-byte tag headers and the back-pointers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from livecast.errors import ProtocolError
from livecast.ingest.flv_units import sequence_header, unit_tag
from livecast.media.timeline import Timestamp, TimestampNormalizer
from livecast.media.unit import MILLISECONDS, Track, Unit

VIDEO_ONLY_HEADER = b"FLV\x01\x01\x00\x00\x00\x09" + b"\x00\x00\x00\x00"
_AUDIO, _VIDEO, _SCRIPT = 8, 9, 18
MAX_TAG_BYTES = 16 * 1024 * 1024


def tag(kind: int, timestamp_ms: int, body: bytes) -> bytes:
    """One FLV tag with its header and the back-pointer that follows it."""
    ts = timestamp_ms & 0xFFFFFFFF
    size = len(body)
    header = bytes((kind,)) + size.to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(3, "big")
    header += bytes((ts >> 24,)) + b"\x00\x00\x00"
    return header + body + (11 + size).to_bytes(4, "big")


def config_tag(track: Track, timestamp_ms: int) -> bytes | None:
    body = sequence_header(track)
    return None if body is None else tag(_VIDEO, timestamp_ms, body)


def video_tag(unit: Unit) -> bytes | None:
    body = unit_tag(unit)
    if body is None:
        return None
    dts = unit.dts if unit.timebase == MILLISECONDS else int(unit.dts * unit.timebase * 1000)
    return tag(_VIDEO, dts, body)


FlvTagKind = Literal["audio", "video"]


@dataclass(frozen=True, slots=True)
class FlvTag:
    kind: FlvTagKind
    timestamp_ms: int
    body: bytes


class FlvReader:
    """Feed bytes with :meth:`receive`; iterate the audio and video tags that completed."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._header_done = False

    def receive(self, data: bytes) -> Iterator[FlvTag]:
        self._buffer += data
        if not self._header_done:
            if len(self._buffer) < 13:
                return
            if self._buffer[:3] != b"FLV":
                raise ProtocolError("not an FLV stream")
            skip = int.from_bytes(self._buffer[5:9], "big") + 4
            if len(self._buffer) < skip:
                return
            del self._buffer[:skip]
            self._header_done = True
        yield from self._tags()

    def _tags(self) -> Iterator[FlvTag]:
        buffer, pos = self._buffer, 0
        while len(buffer) - pos >= 11:
            kind = buffer[pos] & 0x1F
            size = int.from_bytes(buffer[pos + 1 : pos + 4], "big")
            if size > MAX_TAG_BYTES:
                raise ProtocolError(f"FLV tag of {size} bytes")
            end = pos + 11 + size + 4
            if len(buffer) < end:
                break
            ts = int.from_bytes(buffer[pos + 4 : pos + 7], "big") | (buffer[pos + 7] << 24)
            if kind in (_AUDIO, _VIDEO):
                body = bytes(buffer[pos + 11 : pos + 11 + size])
                yield FlvTag("video" if kind == _VIDEO else "audio", ts, body)
            pos = end
        del buffer[:pos]


class SourceTimeline(TimestampNormalizer):
    """Timestamps that are already on the stream's timeline (ffmpeg ran with ``-copyts``).

    Kept as they are, with no rebasing; the first unit after :meth:`new_session` (an ffmpeg
    restart) is marked as a discontinuity.
    """

    def __init__(self) -> None:
        super().__init__()
        self._fresh = True

    def new_session(self) -> None:
        self._fresh = True

    def normalize(self, track: object, raw_ms: int) -> Timestamp:
        fresh, self._fresh = self._fresh, False
        return Timestamp(raw_ms, raw_ms, fresh)
