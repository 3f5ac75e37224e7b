"""WebSocket (RFC 6455), the server's side, sans I/O: the opening handshake and frames.

:func:`parse_upgrade` reads an HTTP/1.1 upgrade request; :func:`handshake_response` answers
it. :class:`FrameReader` turns the client's bytes into messages, control frames and a close,
enforcing the RFC's rules for clients: every frame masked, no reserved bits (no extension is
negotiated), control frames short and whole, fragments in order, text valid UTF-8, messages
within a size bound. A violation raises :class:`WebSocketError` carrying the close code to
send. :func:`frame` and :func:`close_frame` build the server's (unmasked) frames; since they
are unmasked, one encoded frame serves every client it goes to.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass, field
from urllib.parse import unquote

from livecast.errors import ProtocolError

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
_DATA = (OP_TEXT, OP_BINARY)
_CONTROL = (OP_CLOSE, OP_PING, OP_PONG)

# Close codes (RFC 6455 section 7.4.1)
NORMAL, GOING_AWAY, PROTOCOL_ERROR = 1000, 1001, 1002
INVALID_DATA, TOO_BIG, INTERNAL_ERROR = 1007, 1009, 1011
_NO_STATUS = 1005
_SENDABLE = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
MAX_REQUEST_BYTES = 16 * 1024


class WebSocketError(ProtocolError):
    """The peer broke the protocol; close the connection with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class HandshakeError(ProtocolError):
    """The upgrade request cannot be accepted; answer ``status`` and close."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# -- the opening handshake ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Upgrade:
    path: str  # percent-decoded
    query: str  # raw, for a query-string parser
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    key: str


def parse_upgrade(request: bytes) -> Upgrade:
    """The upgrade request up to and including its blank line; :class:`HandshakeError`."""
    if len(request) > MAX_REQUEST_BYTES:
        raise HandshakeError(431, "request headers too large")
    try:
        text = request.decode("latin-1")
        line, *lines = text.split("\r\n")
        method, target, version = line.split(" ")
    except ValueError:
        raise HandshakeError(400, "malformed request line") from None
    if method != "GET" or not version.startswith("HTTP/1."):
        raise HandshakeError(400, "a WebSocket upgrade is an HTTP/1.1 GET")
    headers: dict[str, str] = {}
    for header in lines:
        if not header:
            continue
        name, sep, value = header.partition(":")
        if not sep or not name or name != name.strip():
            raise HandshakeError(400, "malformed header line")
        name, value = name.lower(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if "websocket" not in headers.get("upgrade", "").lower():
        raise HandshakeError(400, "missing Upgrade: websocket")
    if headers.get("sec-websocket-version") != "13":
        raise HandshakeError(426, "only WebSocket version 13 is supported")
    key = headers.get("sec-websocket-key", "")
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            raise ValueError(key)
    except ValueError:
        raise HandshakeError(400, "Sec-WebSocket-Key must be 16 bytes in base64") from None
    path, _, query = target.partition("?")
    return Upgrade(unquote(path), query, headers, key)


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()  # noqa: S324


def handshake_response(key: str) -> bytes:
    return (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
    ).encode()


def refusal_response(status: int, reason: str) -> bytes:
    body = reason.encode()
    return (
        f"HTTP/1.1 {status} {_STATUS_TEXT.get(status, 'Error')}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


_STATUS_TEXT = {400: "Bad Request", 404: "Not Found", 426: "Upgrade Required", 431: "Too Large"}


# -- frames the server sends ----------------------------------------------------------------


def frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked frame."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return header + payload


def text_frame(text: str) -> bytes:
    return frame(OP_TEXT, text.encode())


def close_frame(code: int, reason: str = "") -> bytes:
    payload = struct.pack("!H", code) + reason.encode()[:123]
    return frame(OP_CLOSE, payload)


# -- frames the client sends ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    """A whole data message: ``text`` for a text message, else ``data``."""

    text: str | None = None
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class Ping:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Close:
    code: int  # 1005 when the frame carried none
    reason: str


Event = Message | Ping | Pong | Close


def unmask(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return payload
    size = len(payload)
    key = (mask * (size // 4 + 1))[:size]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")
    return value.to_bytes(size, "big")


@dataclass
class FrameReader:
    """Client frames in, events out; feed bytes with :meth:`receive` in any chunking."""

    max_message: int = 64 * 1024
    _buffer: bytearray = field(default_factory=bytearray)
    _parts: list[bytes] = field(default_factory=list)
    _size: int = 0
    _opcode: int | None = None  # of the fragmented message in progress
    closed: bool = False

    def receive(self, data: bytes) -> list[Event]:
        """Every event ``data`` completes; :class:`WebSocketError` on a violation."""
        if self.closed:
            return []
        self._buffer += data
        events: list[Event] = []
        while True:
            complete, event = self._next()
            if not complete:
                return events
            if event is not None:
                events.append(event)
                if isinstance(event, Close):
                    self.closed = True
                    return events

    def _next(self) -> tuple[bool, Event | None]:
        """(False, None) while a frame is incomplete; else the event it completes, if any."""
        buf = self._buffer
        if len(buf) < 2:
            return False, None
        first, second = buf[0], buf[1]
        fin, opcode, length = first & 0x80, first & 0x0F, second & 0x7F
        if first & 0x70:
            raise WebSocketError(PROTOCOL_ERROR, "reserved bits set without an extension")
        if not second & 0x80:
            raise WebSocketError(PROTOCOL_ERROR, "client frames must be masked")
        if opcode not in (OP_CONTINUATION, *_DATA, *_CONTROL):
            raise WebSocketError(PROTOCOL_ERROR, f"unknown opcode {opcode}")
        if opcode in _CONTROL and (not fin or length > 125):
            raise WebSocketError(PROTOCOL_ERROR, "control frames must be whole and short")
        offset = 2
        if length == 126:
            if len(buf) < 4:
                return False, None
            (length,) = struct.unpack_from("!H", buf, 2)
            offset = 4
        elif length == 127:
            if len(buf) < 10:
                return False, None
            (length,) = struct.unpack_from("!Q", buf, 2)
            offset = 10
        if opcode not in _CONTROL and self._size + length > self.max_message:
            raise WebSocketError(TOO_BIG, f"messages are limited to {self.max_message} bytes")
        end = offset + 4 + length
        if len(buf) < end:
            return False, None
        payload = unmask(bytes(buf[offset + 4 : end]), bytes(buf[offset : offset + 4]))
        del buf[:end]
        if opcode in _CONTROL:
            return True, self._control(opcode, payload)
        return True, self._data(opcode, bool(fin), payload)

    def _control(self, opcode: int, payload: bytes) -> Event:
        if opcode == OP_PING:
            return Ping(payload)
        if opcode == OP_PONG:
            return Pong(payload)
        if not payload:
            return Close(_NO_STATUS, "")
        if len(payload) == 1:
            raise WebSocketError(PROTOCOL_ERROR, "a close frame's code needs two bytes")
        (code,) = struct.unpack_from("!H", payload)
        if code not in _SENDABLE and not 3000 <= code <= 4999:
            raise WebSocketError(PROTOCOL_ERROR, f"close code {code} may not be sent")
        return Close(code, _utf8(payload[2:]))

    def _data(self, opcode: int, fin: bool, payload: bytes) -> Message | None:
        if opcode == OP_CONTINUATION:
            if self._opcode is None:
                raise WebSocketError(PROTOCOL_ERROR, "a continuation frame with no message")
        elif self._opcode is not None:
            raise WebSocketError(PROTOCOL_ERROR, "a new message before the last one ended")
        else:
            self._opcode = opcode
        self._parts.append(payload)
        self._size += len(payload)
        if not fin:
            return None
        whole, kind = b"".join(self._parts), self._opcode
        self._parts, self._size, self._opcode = [], 0, None
        return Message(text=_utf8(whole)) if kind == OP_TEXT else Message(data=whole)


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise WebSocketError(INVALID_DATA, "text is not valid UTF-8") from None
