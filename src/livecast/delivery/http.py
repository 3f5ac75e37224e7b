"""Origin replies as plain values, sent through ASGI or written to a socket as they are.

The origin works out a :class:`Reply` without knowing how it travels: the ASGI app sends it
as two ASGI messages, and the wire protocol (``delivery/wire.py``) writes it to the transport
as one HTTP/1.1 message. Both add the same CORS headers and Content-Length.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus

from starlette.types import Send

Headers = list[tuple[bytes, bytes]]

CORS: Headers = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"content-length, content-range, etag, age"),
]
PROBLEM_JSON = b"application/problem+json"


@dataclass(slots=True)
class Reply:
    """A whole response: status, headers (besides CORS and Content-Length) and body.

    ``head`` answers a HEAD request: the headers describe ``body`` but it is not sent. A body
    may be a view into a segment's bytes (a part), which the wire path sends without copying.
    """

    status: int
    body: bytes | memoryview = b""
    headers: Headers = field(default_factory=list)
    head: bool = False


def problem(status: int, title: str, detail: str, instance: str) -> Reply:
    """An RFC 9457 problem document."""
    document = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    headers = [(b"content-type", PROBLEM_JSON), (b"cache-control", b"no-store")]
    return Reply(status, json.dumps(document).encode(), headers)


async def send_reply(send: Send, reply: Reply) -> None:
    """Send ``reply`` through ASGI."""
    headers = [*CORS, *reply.headers, (b"content-length", b"%d" % len(reply.body))]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if reply.head else bytes(reply.body)})


_STATUS_LINES = {
    status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode())
    for status in HTTPStatus
}
_CORS_LINES = b"".join(b"%s: %s\r\n" % pair for pair in CORS)


def response_head(reply: Reply) -> bytes:
    """The status line and header lines of ``reply`` as HTTP/1.1 bytes, without the blank
    line that ends them (the caller may add headers of its own first)."""
    lines = [_STATUS_LINES.get(reply.status) or b"HTTP/1.1 %d \r\n" % reply.status, _CORS_LINES]
    lines.extend(b"%s: %s\r\n" % pair for pair in reply.headers)
    lines.append(b"content-length: %d\r\n" % len(reply.body))
    return b"".join(lines)


def header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower case) in an ASGI-style header list."""
    for key, value in headers:
        if key == name:
            return bytes(value)
    return None


def parse_range(value: bytes | None, size: int) -> tuple[int, int] | None:
    """The (start, end inclusive) of a single ``bytes=`` range, None without one.

    Raises ValueError for a range that is malformed or cannot be satisfied.
    """
    if value is None:
        return None
    unit, _, spec = value.decode("latin-1").partition("=")
    if unit.strip() != "bytes" or "," in spec:
        raise ValueError("only one bytes range is supported")
    first, _, last = spec.strip().partition("-")
    if first == "":
        length = int(last)
        if length <= 0:
            raise ValueError("empty suffix range")
        return max(0, size - length), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        raise ValueError("range outside the resource")
    return start, min(end, size - 1)
