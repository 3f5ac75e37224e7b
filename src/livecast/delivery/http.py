"""Minimal raw-ASGI response helpers for the origin's hot paths (no framework per request)."""

from __future__ import annotations

import json
from collections.abc import Iterable, MutableMapping
from typing import Any

from starlette.types import Send

Headers = list[tuple[bytes, bytes]]

CORS: Headers = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"content-length, content-range, etag, age"),
]
PROBLEM_JSON = b"application/problem+json"


async def respond(
    send: Send,
    status: int,
    body: bytes = b"",
    headers: Iterable[tuple[bytes, bytes]] = (),
    *,
    head: bool = False,
) -> None:
    all_headers = [*CORS, *headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def problem(send: Send, status: int, title: str, detail: str, instance: str) -> None:
    document: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    headers = [(b"content-type", PROBLEM_JSON), (b"cache-control", b"no-store")]
    await respond(send, status, json.dumps(document).encode(), headers)


def header(scope: MutableMapping[str, Any], name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
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
