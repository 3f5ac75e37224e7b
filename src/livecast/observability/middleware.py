"""Pure ASGI middleware: request ids, access logs, metrics and the request body cap."""

from __future__ import annotations

import itertools
import logging
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livecast.api.problems import PayloadTooLarge, problem_response
from livecast.observability.logging import request_id_var
from livecast.observability.metrics import Metrics

log = logging.getLogger("livecast.access")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Request ids need to be unique, not unpredictable: a random per-process prefix and a counter
# (uuid4 reads the kernel's random source on every request, 3 % of a busy origin's time).
_ID_PREFIX = uuid.uuid4().hex[:16]
_ID_COUNTER = itertools.count()
# The file name of an origin path (delivery/origin.py) -> the kind of HLS/DASH request.
_ORIGIN_KINDS = (
    ("master.m3u8", "master"),
    (".m3u8", "playlist"),
    (".mpd", "mpd"),
    ("init-", "init"),
    ("seg-", "segment"),
    ("part-", "part"),
)


def origin_kind(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    for marker, kind in _ORIGIN_KINDS:
        if name.endswith(marker) or name.startswith(marker):
            return kind
    return "other"


def request_id(incoming: bytes | None) -> str:
    """The id of a request: the client's ``X-Request-ID`` when it is safe to echo, else ours."""
    if incoming:
        text = incoming.decode("latin-1")
        if _SAFE_REQUEST_ID.match(text):
            return text
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


class RequestLog:
    """Counts, times and logs finished requests, for the middleware and the wire origin.

    Origin media requests that succeed are logged at DEBUG: a player makes several a second,
    and an INFO line each would bury everything else (their counts are in the metrics).
    """

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    def __call__(self, method: str, path: str, route: str, status: int, elapsed: float) -> None:
        self.many(method, path, route, status, (elapsed,))

    def many(
        self, method: str, path: str, route: str, status: int, elapsed: Sequence[float]
    ) -> None:
        """Record requests that share a method, path, route and status (held requests
        released together), each with its own duration."""
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            metrics = self.metrics
            origin = path.startswith(("/hls/", "/dash/"))
            children = (
                metrics.http_requests.labels(method, route, str(status)),
                metrics.http_latency.labels(method, route),
                metrics.hls_requests.labels(origin_kind(path), f"{status // 100}xx")
                if origin
                else None,
            )
            if len(self._children) < 4096:  # routes are templates: the keys are few
                self._children[key] = children
        requests, latency, origin_requests = children
        requests.inc(len(elapsed))
        for seconds in elapsed:
            latency.observe(seconds)
        if origin_requests is not None:
            origin_requests.inc(len(elapsed))
        if status >= 500:
            self.metrics.errors.labels("http").inc(len(elapsed))
        level = logging.DEBUG if origin_requests is not None and status < 400 else logging.INFO
        if log.isEnabledFor(level):
            for seconds in elapsed:
                extra = {"status": status, "route": route, "duration_ms": round(seconds * 1000, 2)}
                log.log(level, "%s %s %s", method, path, status, extra=extra)


class ObservabilityMiddleware:
    """Gives each request an id (``X-Request-ID``), logs it, and records its metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.record = RequestLog(metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(_raw_header(scope, b"x-request-id"))
        token = request_id_var.set(rid)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", rid.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            self.record(scope["method"], scope["path"], _route_template(scope), status, elapsed)
            request_id_var.reset(token)


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with 413 before the application reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise PayloadTooLarge(self._detail())
            return message

        await self.app(scope, limited_receive, send)

    def _detail(self) -> str:
        return f"The request body is larger than the {self.max_bytes} bytes allowed."

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(413, self._detail(), title=PayloadTooLarge.title)
        await response(scope, receive, send)


def _raw_header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value)
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    value = _raw_header(scope, name)
    return None if value is None else value.decode("latin-1")


def _route_template(scope: Scope) -> str:
    label = scope.get("livecast.route")
    if isinstance(label, str):
        return label
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class PathDispatch:
    """Sends requests under ``prefixes`` straight to ``target`` (a raw ASGI app), past routing."""

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...], target: ASGIApp) -> None:
        self.app = app
        self.prefixes = prefixes
        self.target = target

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefixes):
            await self.target(scope, receive, send)
        else:
            await self.app(scope, receive, send)
