"""Pure ASGI middleware: request ids, access logs, metrics and the request body cap."""

from __future__ import annotations

import itertools
import logging
import re
import time
import uuid

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


def _next_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


class ObservabilityMiddleware:
    """Gives each request an id (``X-Request-ID``), logs it, and records its metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _SAFE_REQUEST_ID.match(incoming) else _next_id()
        token = request_id_var.set(request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = scope["method"]
            self.metrics.http_requests.labels(method, route, str(status)).inc()
            self.metrics.http_latency.labels(method, route).observe(elapsed)
            if scope["path"].startswith(("/hls/", "/dash/")):
                kind = origin_kind(scope["path"])
                self.metrics.hls_requests.labels(kind, f"{status // 100}xx").inc()
            if status >= 500:
                self.metrics.errors.labels("http").inc()
            log.info(
                "%s %s %s",
                method,
                scope["path"],
                status,
                extra={"status": status, "route": route, "duration_ms": round(elapsed * 1000, 2)},
            )
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


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


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
