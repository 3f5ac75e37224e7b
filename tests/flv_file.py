"""Reading FLV files in tests: the tags of a file ffmpeg wrote, as RTMP would carry them."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

FlvTag = tuple[Literal["audio", "video"], int, bytes]  # kind, timestamp in ms, tag body

_KINDS: dict[int, Literal["audio", "video"]] = {8: "audio", 9: "video"}


def read_tags(path: Path) -> list[FlvTag]:
    """The audio and video tags of an FLV file, in file order (script data is skipped)."""
    data = path.read_bytes()
    position = int.from_bytes(data[5:9], "big") + 4  # header, then PreviousTagSize0
    tags: list[FlvTag] = []
    while position + 11 <= len(data):
        kind = data[position] & 0x1F
        size = int.from_bytes(data[position + 1 : position + 4], "big")
        timestamp = int.from_bytes(data[position + 4 : position + 7], "big")
        timestamp |= data[position + 7] << 24  # TimestampExtended
        body = data[position + 11 : position + 11 + size]
        if kind in _KINDS:
            tags.append((_KINDS[kind], timestamp, body))
        position += 11 + size + 4
    return tags
