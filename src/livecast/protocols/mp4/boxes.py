"""ISO BMFF box framing (ISO/IEC 14496-12, 4.2): size, type, and for full boxes version and flags.

Writers build each box's payload with :mod:`struct` and join it once; nothing here copies media
payloads more than the final join does. :func:`iter_boxes` reads the framing back, for tests and
for tools that inspect segments.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from livecast.errors import ProtocolError

_HEADER = struct.Struct(">I4s")
_LARGE_HEADER = struct.Struct(">I4sQ")
_FULL_HEADER = struct.Struct(">I4sI")
_U32 = 0xFFFFFFFF

# The identity transformation matrix of mvhd and tkhd (16.16 and 2.30 fixed point).
UNITY_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def box(kind: bytes, *payload: bytes) -> bytes:
    """A box of type ``kind`` whose body is ``payload`` concatenated."""
    size = 8 + sum(map(len, payload))
    if size > _U32:  # largesize: the 32-bit size is 1 and a 64-bit size follows the type
        return b"".join((_LARGE_HEADER.pack(1, kind, size + 8), *payload))
    return b"".join((_HEADER.pack(size, kind), *payload))


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    """A FullBox: ``version`` (8 bits) and ``flags`` (24 bits) precede the body."""
    size = 12 + sum(map(len, payload))
    if size > _U32:
        return box(kind, struct.pack(">I", version << 24 | flags), *payload)
    return b"".join((_FULL_HEADER.pack(size, kind, version << 24 | flags), *payload))


def header_size(payload_size: int) -> int:
    """Bytes of box header that :func:`box` writes before a body of ``payload_size`` bytes."""
    return 16 if payload_size + 8 > _U32 else 8


def iter_boxes(data: bytes | bytearray | memoryview) -> Iterator[tuple[bytes, memoryview]]:
    """Yield ``(type, body)`` for each top-level box in ``data``.

    Raises :class:`~livecast.errors.ProtocolError` when a box header is truncated or a size
    points outside ``data``. A size of 0 means "to the end", as the standard allows.
    """
    view = memoryview(data)
    pos, end = 0, len(view)
    while pos < end:
        if end - pos < 8:
            raise ProtocolError(f"truncated box header at offset {pos}")
        size, kind = _HEADER.unpack_from(view, pos)
        start = pos + 8
        if size == 1:
            if end - pos < 16:
                raise ProtocolError(f"truncated largesize at offset {pos}")
            (size,) = struct.unpack_from(">Q", view, start)
            start += 8
        elif size == 0:
            size = end - pos
        if size < start - pos or pos + size > end:
            raise ProtocolError(f"box {kind!r} at offset {pos} has bad size {size}")
        yield bytes(kind), view[start : pos + size]
        pos += size
