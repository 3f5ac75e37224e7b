"""The RTMP chunk stream (RTMP specification, section 5.3): messages cut into chunks and back.

:class:`ChunkReader` is fed arbitrary slices of the byte stream and yields whole messages;
:class:`ChunkWriter` cuts messages into chunks with the smallest header that is unambiguous.

Timestamps are the raw 32-bit RTMP values: deltas add modulo 2**32, nothing is normalized.
Two points where deployed peers and the specification disagree:

* A type 3 header that starts a new message applies the delta of the previous header; after a
  type 0 header that "delta" is the absolute timestamp field, as ffmpeg reads and writes it. The
  writer never relies on that reading: it sends a type 3 header for a new message only after a
  type 1 or 2 header.
* The extended timestamp is repeated on type 3 chunks (specification, ffmpeg, librtmp), but some
  encoders leave it out of continuation chunks; the reader skips the 4 bytes only when they repeat
  the value of the message's header.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from livecast.errors import ProtocolError

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MAX_CHUNK_STREAM_ID",
    "ChunkReader",
    "ChunkWriter",
    "Message",
]

DEFAULT_CHUNK_SIZE: Final = 128
MIN_CHUNK_STREAM_ID: Final = 2  # 0 and 1 select the 2- and 3-byte basic headers
MAX_CHUNK_STREAM_ID: Final = 65599
MAX_MESSAGE_LENGTH: Final = 0xFFFFFF  # the length field has 24 bits
TIMESTAMP_MASK: Final = 0xFFFFFFFF
_EXTENDED: Final = 0xFFFFFF  # timestamp field value announcing an extended timestamp
_SET_CHUNK_SIZE: Final = 1
_ABORT: Final = 2

_WORDS = struct.Struct(">II")
_WORD = struct.Struct(">I")
_LE_WORD = struct.Struct("<I")
_HEADER_LENGTH: Final = (11, 7, 3, 0)  # message header length by chunk type (fmt)


@dataclass(frozen=True, slots=True)
class Message:
    """One RTMP message: its type id, message stream id, 32-bit timestamp (ms) and payload."""

    type_id: int
    stream_id: int
    timestamp: int
    payload: bytes


class _InStream:
    """Reader state of one chunk stream: the last header and the message being assembled."""

    __slots__ = ("delta", "ext", "length", "parts", "received", "stream_id", "timestamp", "type_id")

    def __init__(self) -> None:
        self.timestamp = 0
        self.delta = 0  # timestamp field of the last header (the absolute value after type 0)
        self.ext = -1  # extended timestamp of the last header, -1 when it had none
        self.length = 0
        self.type_id = 0
        self.stream_id = 0
        self.received = 0  # payload bytes of the current message received so far
        self.parts: list[bytes | memoryview] = []


class ChunkReader:
    """Reassembles messages from chunks; fed with :meth:`receive_data`, drained with
    :meth:`messages_received`.

    Set Chunk Size and Abort messages take effect as soon as they are parsed (they change how the
    very next chunk is read) and are also returned like every other message. A malformed stream
    raises :class:`ProtocolError`; after that the reader refuses further input.
    """

    def __init__(
        self,
        *,
        max_message_size: int = 16 * 1024 * 1024,
        max_chunk_size: int = 16 * 1024 * 1024,
        max_chunk_streams: int = 64,
        max_buffered: int = 32 * 1024 * 1024,
    ) -> None:
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self.max_message_size = min(max_message_size, MAX_MESSAGE_LENGTH)
        self.max_chunk_size = max_chunk_size
        self.max_chunk_streams = max_chunk_streams
        self.max_buffered = max_buffered
        self._streams: dict[int, _InStream] = {}
        self._messages: list[Message] = []
        self._tail = b""  # an incomplete chunk header left over from the previous call
        self._current: _InStream | None = None  # stream whose chunk payload is being read
        self._payload_left = 0  # bytes of that chunk payload still to come
        self._reserved = 0  # declared length of all unfinished messages
        self._holding: list[_InStream] = []  # streams holding views of the current input
        self._failed = False

    def messages_received(self) -> list[Message]:
        """The messages completed since the last call, oldest first."""
        messages, self._messages = self._messages, []
        return messages

    def receive_data(self, data: bytes | bytearray) -> None:
        """Parse ``data``, the next bytes of the chunk stream, in any slicing."""
        if self._failed:
            raise ProtocolError("chunk stream already failed")
        if self._tail:
            data = self._tail + data
            self._tail = b""
        try:
            self._parse(data)
        except ProtocolError:
            self._failed = True
            raise
        finally:
            self._release()

    def _release(self) -> None:
        # Unfinished messages hold memoryviews of ``data``; copy them out so that neither a
        # caller's reused buffer nor a whole network read is kept alive by a few bytes.
        for stream in self._holding:
            parts = stream.parts
            start = len(parts)
            while start and isinstance(parts[start - 1], memoryview):
                start -= 1
            if start < len(parts):
                parts[start:] = [b"".join(parts[start:])]
        self._holding.clear()

    def _parse(self, data: bytes | bytearray) -> None:
        view = memoryview(data)
        size = len(data)
        pos = 0
        streams = self._streams
        while True:
            stream = self._current
            if stream is not None:  # inside a chunk payload
                left = self._payload_left
                if size - pos < left:
                    if pos < size:
                        self._hold(stream, view[pos:size])
                        stream.received += size - pos
                        self._payload_left = left - (size - pos)
                    return
                self._hold(stream, view[pos : pos + left])
                pos += left
                stream.received += left
                self._current = None
                if stream.received == stream.length:
                    self._complete(stream)
                continue

            # basic header
            if pos >= size:
                return
            first = data[pos]
            fmt = first >> 6
            csid = first & 0x3F
            p = pos + 1
            if csid == 0:
                if size - pos < 2:
                    break
                csid = data[p] + 64
                p += 1
            elif csid == 1:
                if size - pos < 3:
                    break
                csid = data[p] + (data[p + 1] << 8) + 64
                p += 2
            end = p + _HEADER_LENGTH[fmt]
            if end > size:
                break
            stream = streams.get(csid)
            if stream is None:
                stream = self._new_stream(csid, fmt)

            # message header; ``stream`` changes only once the whole header is here
            if fmt < 3:
                if fmt < 2:
                    word1, word2 = _WORDS.unpack_from(data, p - 1)
                    field = word1 & 0xFFFFFF
                else:
                    field = _WORD.unpack_from(data, p - 1)[0] & 0xFFFFFF
                ext = -1
                if field == _EXTENDED:
                    if end + 4 > size:
                        break
                    ext = field = _WORD.unpack_from(data, end)[0]
                    end += 4
                if stream.received:
                    raise ProtocolError(
                        f"type {fmt} chunk on chunk stream {csid} interrupts an unfinished message"
                    )
                if fmt == 0:
                    stream.timestamp = field
                    stream.stream_id = _LE_WORD.unpack_from(data, p + 7)[0]
                else:
                    stream.timestamp = (stream.timestamp + field) & TIMESTAMP_MASK
                if fmt < 2:
                    self._start(stream, word2 >> 8, word2 & 0xFF)
                else:
                    self._start(stream, stream.length, stream.type_id)
                stream.delta = field
                stream.ext = ext
            elif stream.received:  # type 3: next chunk of the current message
                if stream.ext >= 0:
                    if end + 4 > size:
                        break
                    if _WORD.unpack_from(data, end)[0] == stream.ext:
                        end += 4
            else:  # type 3: a new message with the previous header's fields
                if stream.ext >= 0:
                    if end + 4 > size:
                        break
                    stream.ext = stream.delta = _WORD.unpack_from(data, end)[0]
                    end += 4
                stream.timestamp = (stream.timestamp + stream.delta) & TIMESTAMP_MASK
                self._start(stream, stream.length, stream.type_id)
            pos = end

            left = stream.length - stream.received
            if left == 0:
                self._complete(stream)
            else:
                self._current = stream
                self._payload_left = left if left < self.chunk_size else self.chunk_size
        self._tail = bytes(data[pos:])

    def _new_stream(self, csid: int, fmt: int) -> _InStream:
        if fmt != 0:
            raise ProtocolError(f"chunk stream {csid} starts with a type {fmt} header")
        if len(self._streams) >= self.max_chunk_streams:
            raise ProtocolError(f"more than {self.max_chunk_streams} chunk streams")
        stream = self._streams[csid] = _InStream()
        return stream

    def _start(self, stream: _InStream, length: int, type_id: int) -> None:
        if length > self.max_message_size:
            raise ProtocolError(f"message of {length} bytes exceeds {self.max_message_size}")
        self._reserved += length
        if self._reserved > self.max_buffered:
            raise ProtocolError("unfinished messages exceed the buffer limit")
        stream.length = length
        stream.type_id = type_id

    def _hold(self, stream: _InStream, part: memoryview) -> None:
        if not stream.parts or not isinstance(stream.parts[-1], memoryview):
            self._holding.append(stream)
        stream.parts.append(part)

    def _complete(self, stream: _InStream) -> None:
        parts = stream.parts
        payload = bytes(parts[0]) if len(parts) == 1 else b"".join(parts)
        stream.parts = []
        stream.received = 0
        self._reserved -= stream.length
        type_id = stream.type_id
        if type_id == _SET_CHUNK_SIZE:
            self._set_chunk_size(payload)
        elif type_id == _ABORT:
            self._abort(payload)
        self._messages.append(Message(type_id, stream.stream_id, stream.timestamp, payload))

    def _set_chunk_size(self, payload: bytes) -> None:
        if len(payload) < 4:
            raise ProtocolError("Set Chunk Size message shorter than 4 bytes")
        size: int = _WORD.unpack_from(payload)[0]
        if not 1 <= size <= min(self.max_chunk_size, 0x7FFFFFFF):
            raise ProtocolError(f"Set Chunk Size to {size} is outside 1..{self.max_chunk_size}")
        self.chunk_size = size

    def _abort(self, payload: bytes) -> None:
        if len(payload) < 4:
            raise ProtocolError("Abort message shorter than 4 bytes")
        stream = self._streams.get(_WORD.unpack_from(payload)[0])
        if stream is not None and stream.received:
            self._reserved -= stream.length
            stream.parts = []
            stream.received = 0


class _OutStream:
    """Writer state of one chunk stream: the header fields the peer will remember."""

    __slots__ = ("delta", "length", "stream_id", "timestamp", "type_id")

    def __init__(self, message: Message, delta: int) -> None:
        self.timestamp = message.timestamp
        self.delta = delta  # -1 after a type 0 header: no type 3 header may follow it
        self.length = len(message.payload)
        self.type_id = message.type_id
        self.stream_id = message.stream_id


class ChunkWriter:
    """Cuts messages into chunks of :attr:`chunk_size`, compressing headers per chunk stream.

    Changing :attr:`chunk_size` must go along with sending a Set Chunk Size message to the peer
    before the next message written with the new size.
    """

    def __init__(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self._chunk_size = DEFAULT_CHUNK_SIZE
        self.chunk_size = chunk_size
        self._streams: dict[int, _OutStream] = {}
        self._continuations: dict[tuple[int, int], bytes] = {}

    @property
    def chunk_size(self) -> int:
        """Maximum payload bytes per chunk."""
        return self._chunk_size

    @chunk_size.setter
    def chunk_size(self, size: int) -> None:
        if not 1 <= size <= 0x7FFFFFFF:
            raise ValueError(f"chunk size {size} outside 1..2147483647")
        self._chunk_size = size

    def write(self, chunk_stream_id: int, message: Message) -> bytes:
        """The chunks carrying ``message`` on ``chunk_stream_id``."""
        if not MIN_CHUNK_STREAM_ID <= chunk_stream_id <= MAX_CHUNK_STREAM_ID:
            raise ValueError(f"chunk stream id {chunk_stream_id} outside 2..65599")
        timestamp = message.timestamp
        if not 0 <= timestamp <= TIMESTAMP_MASK:
            raise ValueError(f"timestamp {timestamp} outside the 32-bit range")
        payload = message.payload
        length = len(payload)
        if length > MAX_MESSAGE_LENGTH:
            raise ValueError(f"message of {length} bytes does not fit a 24-bit length")

        fmt, field = self._choose_header(chunk_stream_id, message)
        self._streams[chunk_stream_id] = _OutStream(message, field if fmt else -1)
        extended = field >= _EXTENDED
        header = _basic_header(fmt, chunk_stream_id)
        if fmt < 3:
            words = _WORDS.pack(min(field, _EXTENDED), (length << 8) | message.type_id)
            header += words[1 : 1 + _HEADER_LENGTH[fmt]]
            if fmt == 0:
                header += _LE_WORD.pack(message.stream_id)
        if extended:
            header += _WORD.pack(field)

        size = self._chunk_size
        if length <= size:
            return header + payload
        continuation = self._continuation(chunk_stream_id, field if extended else -1)
        view = memoryview(payload)
        parts: list[bytes | memoryview] = [header, view[:size]]
        for offset in range(size, length, size):
            parts.append(continuation)
            parts.append(view[offset : offset + size])
        return b"".join(parts)

    def _choose_header(self, chunk_stream_id: int, message: Message) -> tuple[int, int]:
        """The chunk type and timestamp field (absolute or delta) for ``message``."""
        previous = self._streams.get(chunk_stream_id)
        if previous is None or previous.stream_id != message.stream_id:
            return 0, message.timestamp
        delta = (message.timestamp - previous.timestamp) & TIMESTAMP_MASK
        if delta >= 0x80000000:  # backwards in time (modulo 2**32): only an absolute header
            return 0, message.timestamp
        if len(message.payload) != previous.length or message.type_id != previous.type_id:
            return 1, delta
        return (3 if delta == previous.delta else 2), delta

    def _continuation(self, chunk_stream_id: int, ext: int) -> bytes:
        key = (chunk_stream_id, ext)
        header = self._continuations.get(key)
        if header is None:
            header = _basic_header(3, chunk_stream_id)
            if ext >= 0:
                header += _WORD.pack(ext)
            if len(self._continuations) > 256:  # extended values vary; keep the cache small
                self._continuations.clear()
            self._continuations[key] = header
        return header


def _basic_header(fmt: int, chunk_stream_id: int) -> bytes:
    if chunk_stream_id < 64:
        return bytes((fmt << 6 | chunk_stream_id,))
    if chunk_stream_id < 320:
        return bytes((fmt << 6, chunk_stream_id - 64))
    rest = chunk_stream_id - 64
    return bytes((fmt << 6 | 1, rest & 0xFF, rest >> 8))
