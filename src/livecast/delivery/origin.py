"""The HLS origin: playlists with blocking reload, parts streamed as they are written, segments.

Routes (all GET or HEAD; OPTIONS answers CORS preflights)::

    /hls/{stream_id}/master.m3u8
    /hls/{stream_id}/{rendition}/index.m3u8   ?_HLS_msn=&_HLS_part=&_HLS_skip=YES|v2
    /hls/{stream_id}/{rendition}/init-{version}.mp4
    /hls/{stream_id}/{rendition}/seg-{msn}.m4s
    /hls/{stream_id}/{rendition}/part-{msn}-{index}.m4s

The per-request cost matters (thousands of players each poll a playlist and fetch three parts
a second), so :meth:`HlsOrigin.answer` works out a reply synchronously, as a value, and
``livecast serve`` writes it straight to the socket (``delivery/wire.py``). Only requests that
must wait for media or disk go through the ASGI path, :meth:`HlsOrigin.__call__`, which serves
everything (tests and other servers use it alone). Streams that are not public need ``?token=``
with a playback token on every URL; playlists hand the token on to the URIs they list.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, quote

from starlette.types import Receive, Scope, Send

from livecast.delivery.http import CORS, Headers, Reply, header, parse_range, problem, send_reply
from livecast.errors import AuthenticationError
from livecast.packaging.dash_view import render_manifest
from livecast.packaging.hls_view import (
    Rendered,
    preload_hint,
    render_master,
    render_media,
    target_duration,
)
from livecast.packaging.packager import StreamPackager
from livecast.packaging.registry import Packagers
from livecast.packaging.rendition import LivePart, LiveSegment, Rendition
from livecast.security.tokens import TokenSigner

PLAYLIST = b"application/vnd.apple.mpegurl"
MP4 = b"video/mp4"
NO_CACHE = b"no-cache"
IMMUTABLE = b"public, max-age=31536000, immutable"
BLOCKING_CACHE = b"public, max-age=60"  # a blocking request's URL names one playlist version
MASTER_WAIT_SECONDS = 10.0
HINT_WAIT_SECONDS = 10.0

_DASH_ROUTE = re.compile(r"^/dash/(?P<sid>[0-9a-fA-F-]{36})/manifest\.mpd$")
DASH_TIME_PATH = "/dash/time"
MPD = b"application/dash+xml"
_ROUTE = re.compile(
    r"^/hls/(?P<sid>[0-9a-fA-F-]{36})/(?:(?P<master>master\.m3u8)|(?P<rendition>[a-z0-9_]+)/"
    r"(?:(?P<index>index\.m3u8)|init-(?P<init>\d+)\.mp4|seg-(?P<seg>\d+)\.m4s"
    r"|part-(?P<pmsn>\d+)-(?P<part>\d+)\.m4s))$"
)
_PREFLIGHT: Headers = [
    (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
    (b"access-control-allow-headers", b"range, if-none-match"),
    (b"access-control-max-age", b"86400"),
]


@dataclass(slots=True, eq=False)
class Hold:
    """A blocking playlist request: answered by ``then()`` once part ``key`` of ``rendition``
    exists, or by ``expired()`` if the rendition ends or ``timeout`` seconds pass first.

    Holds with the same ``key`` are released together, and those with the same ``variant``
    get the same bytes, so a transport can render a release once for all of its waiters.
    """

    rendition: Rendition
    key: tuple[int, int | None]
    variant: Hashable
    timeout: float
    then: Callable[[], Reply]
    instance: str

    def ready(self) -> bool:
        return self.rendition.has_part(*self.key)

    def expired(self) -> Reply:
        detail = "The requested part did not appear in time."
        return problem(503, "Service unavailable", detail, self.instance)


@dataclass(slots=True, eq=False)
class Wait:
    """A request that has to wait for media or disk, which only the ASGI path does; it
    carries what ``answer`` found out, so that the ASGI path need not find it out again."""

    request: _Request
    packager: StreamPackager
    match: re.Match[str]


# What ``HlsOrigin.answer`` decides: a reply now, a held blocking request, or a wait.
Outcome = Reply | Hold | Wait


class HlsOrigin:
    def __init__(self, packagers: Packagers, signer: TokenSigner) -> None:
        self.packagers = packagers
        self.signer = signer

    # -- ASGI -----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        scope["livecast.route"] = route_label(path)
        method: str = scope["method"]
        query: bytes = scope.get("query_string", b"")
        outcome = self.answer(method, path, query, scope["headers"])
        reply: Reply | None
        if isinstance(outcome, Hold):
            ready = await _until(outcome.rendition, outcome.ready, outcome.timeout)
            reply = outcome.then() if ready else outcome.expired()
        elif isinstance(outcome, Wait):
            reply = await _wait_and_answer(outcome, send)
        else:
            reply = outcome
        if reply is not None:  # None: a part was streamed
            await send_reply(send, reply)

    # -- answers worked out now -----------------------------------------------------------

    def answer(self, method: str, path: str, query: bytes, headers: Headers) -> Outcome:
        """The answer to a request, if it can be given without waiting (see :data:`Outcome`)."""
        target = self._target(method, path, query, headers)
        if isinstance(target, Reply):
            return target
        request, packager, match = target
        if match.re is _DASH_ROUTE or match["master"]:
            if not packager.ready.is_set():
                return Wait(request, packager, match)
            return _variants(request, packager, match)
        rendition = packager.renditions.get(match["rendition"])
        if rendition is None:
            return request.problem(404, "Not found", "This stream has no such rendition.")
        if match["index"]:
            return _media_playlist(request, packager, rendition)
        if match["init"] is not None:
            init = rendition.inits.get(int(match["init"]))
            if init is None:
                return request.problem(404, "Not found", "No such init segment.")
            return request.media(init.data, packager)
        if match["seg"] is not None:
            segment = _complete_segment(request, rendition, int(match["seg"]))
            if isinstance(segment, Reply):
                return segment
            if segment.data is None:  # spilled to disk
                return Wait(request, packager, match)
            return request.media(segment.data, packager)
        msn, index = int(match["pmsn"]), int(match["part"])
        found = _find_part(rendition, msn, index)
        if found is None:
            if (msn, index) == preload_hint(rendition):
                return Wait(request, packager, match)  # answered as it is written
            return _no_part(request, msn, index)
        segment, part = found
        if segment.complete:
            if segment.data is None:
                return Wait(request, packager, match)
            return request.media(_part_of(segment.data, part), packager)
        if part.complete:
            return request.media(b"".join(part.chunks), packager)
        return Wait(request, packager, match)

    def _target(
        self, method: str, path: str, query: bytes, headers: Headers
    ) -> Reply | tuple[_Request, StreamPackager, re.Match[str]]:
        """The request's stream and route, or the reply that refuses it."""
        if method == "OPTIONS":
            return Reply(204, headers=_PREFLIGHT)
        if method not in ("GET", "HEAD"):
            return problem(405, "Method not allowed", f"{method} is not allowed here.", path)
        if path == DASH_TIME_PATH:
            now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            return Reply(
                200,
                now.encode(),
                [(b"content-type", b"text/plain"), (b"cache-control", b"no-store")],
            )
        match = _ROUTE.match(path) or _DASH_ROUTE.match(path)
        if match is None:
            return problem(404, "Not found", f"There is nothing at {path}.", path)
        try:
            stream_id = uuid.UUID(match["sid"])
        except ValueError:
            return problem(404, "Not found", f"There is nothing at {path}.", path)
        packager = self.packagers.get(stream_id)
        if packager is None:
            return problem(404, "Not found", "This stream is not live.", path)
        arguments = parse_qs(query.decode("latin-1")) if query else {}
        token = (arguments.get("token") or [""])[0]
        if not packager.public:
            try:
                self.signer.verify_playback(token, packager.stream_id)
            except AuthenticationError as exc:
                detail = f"This stream needs a playback token in ?token=: {exc.detail}"
                return problem(403, "Playback token required", detail, path)
        # Playlists hand the token on to the URIs they list; percent-encoded, whatever a client
        # sent (a public stream checks no token) can never break out of a quoted URI.
        suffix = f"?token={quote(token, safe='')}" if token else ""
        return _Request(method == "HEAD", path, arguments, suffix, headers), packager, match


async def _wait_and_answer(wait: Wait, send: Send) -> Reply | None:
    """Answer a request that waits for media or disk; None once a part has been streamed."""
    request, packager, match = wait.request, wait.packager, wait.match
    if match.re is _DASH_ROUTE or match["master"]:
        try:
            await asyncio.wait_for(packager.ready.wait(), MASTER_WAIT_SECONDS)
        except TimeoutError:
            return request.problem(404, "Not found", "The stream has no media yet; retry shortly.")
        return _variants(request, packager, match)
    rendition = packager.renditions[match["rendition"]]  # answer() found it
    if match["seg"] is not None:
        segment = _complete_segment(request, rendition, int(match["seg"]))
        if isinstance(segment, Reply):
            return segment
        return request.media(await rendition.segment_bytes(segment), packager)
    msn, index = int(match["pmsn"]), int(match["part"])
    await _until(
        rendition, lambda: _find_part(rendition, msn, index) is not None, HINT_WAIT_SECONDS
    )
    found = _find_part(rendition, msn, index)
    if found is None:
        return _no_part(request, msn, index)
    segment, part = found
    if segment.complete:
        return request.media(_part_of(await rendition.segment_bytes(segment), part), packager)
    if part.complete:
        return request.media(b"".join(part.chunks), packager)
    await request.stream_part(rendition, segment, part, send)
    return None


def _complete_segment(request: _Request, rendition: Rendition, msn: int) -> LiveSegment | Reply:
    """Segment ``msn`` if it is complete (and not a gap), else the 404 that says it is not."""
    segment = rendition.segment(msn)
    if segment is None or not segment.complete or segment.gap:
        return request.problem(404, "Not found", f"Segment {msn} is not available.")
    return segment


def _no_part(request: _Request, msn: int, index: int) -> Reply:
    return request.problem(404, "Not found", f"Part {index} of segment {msn} is not available.")


def _part_of(data: bytes, part: LivePart) -> memoryview:
    """A complete segment's part, as a view of the segment's bytes (no copy)."""
    return memoryview(data)[part.offset : part.offset + part.size]


def _variants(request: _Request, packager: StreamPackager, match: re.Match[str]) -> Reply:
    """The multivariant playlist or the MPD (the stream has media in every rendition)."""
    if match.re is _DASH_ROUTE:
        manifest = render_manifest(packager, request.suffix, DASH_TIME_PATH)
        headers = [(b"content-type", MPD), (b"cache-control", NO_CACHE)]
        return Reply(200, manifest, headers, request.head)
    return request.playlist(render_master(packager, request.suffix), NO_CACHE)


def _media_playlist(request: _Request, packager: StreamPackager, rendition: Rendition) -> Outcome:
    try:
        msn_arg, part_arg = request.int_arg("_HLS_msn"), request.int_arg("_HLS_part")
        if part_arg is not None and msn_arg is None:
            raise ValueError("_HLS_part without _HLS_msn")
    except ValueError:
        detail = "_HLS_msn and _HLS_part must be whole numbers; _HLS_part needs _HLS_msn."
        return request.problem(400, "Bad request", detail)
    skip_arg = (request.query.get("_HLS_skip") or ["NO"])[0]
    skip = {"YES": "yes", "v2": "v2"}.get(skip_arg, "none")

    def rendered(cache: bytes) -> Reply:
        text = render_media(packager, rendition, skip, request.suffix)  # type: ignore[arg-type]
        return request.playlist(text, cache)

    if msn_arg is None:
        return rendered(NO_CACHE)
    if msn_arg > rendition.next_msn + 1:  # the in-progress segment is next_msn - 1
        return request.problem(
            400,
            "Bad request",
            f"_HLS_msn={msn_arg} is more than two segments ahead of the live edge "
            f"({rendition.next_msn - 1}).",
        )
    hold = Hold(
        rendition,
        (msn_arg, part_arg),
        (skip, request.suffix, request.gzip, request.head),
        3 * target_duration(packager),
        lambda: rendered(BLOCKING_CACHE),
        request.path,
    )
    return hold.then() if hold.ready() else hold


def _find_part(rendition: Rendition, msn: int, index: int) -> tuple[LiveSegment, LivePart] | None:
    segment = rendition.segment(msn)
    if segment is None or index >= len(segment.parts):
        return None
    return segment, segment.parts[index]


async def _until(rendition: Rendition, condition: Callable[[], bool], seconds: float) -> bool:
    """Wait until ``condition()`` holds (True), or the rendition ends or time runs out."""
    try:
        async with asyncio.timeout(seconds):
            while not condition() and not rendition.ended:
                await rendition.wait_change()
    except TimeoutError:
        pass
    return condition()


def route_label(path: str) -> str:
    """The metrics label of an origin path: its route with the ids left out."""
    match = _ROUTE.match(path) or _DASH_ROUTE.match(path)
    if match is None:
        return "/dash/time" if path == DASH_TIME_PATH else "unmatched"
    if match.re is _DASH_ROUTE:
        return "/dash/{id}/manifest.mpd"
    if match["master"]:
        return "/hls/{id}/master.m3u8"
    for kind, label in (("index", "index.m3u8"), ("init", "init"), ("seg", "segment")):
        if match[kind] is not None:
            return f"/hls/{{id}}/{{rendition}}/{label}"
    return "/hls/{id}/{rendition}/part"


class _Request:
    __slots__ = ("gzip", "head", "headers", "path", "query", "suffix")

    def __init__(
        self, head: bool, path: str, query: dict[str, list[str]], suffix: str, headers: Headers
    ) -> None:
        self.head = head
        self.path = path
        self.query = query
        self.suffix = suffix
        self.headers = headers
        self.gzip = b"gzip" in (header(headers, b"accept-encoding") or b"")

    def int_arg(self, name: str) -> int | None:
        """A whole-number query argument; ValueError when it is something else."""
        values = self.query.get(name)
        if not values:
            return None
        if not values[0].isdigit() or len(values[0]) > 11:
            raise ValueError(name)
        return int(values[0])

    def problem(self, status: int, title: str, detail: str) -> Reply:
        return problem(status, title, detail, self.path)

    def playlist(self, rendered: Rendered | bytes, cache: bytes) -> Reply:
        headers = [
            (b"content-type", PLAYLIST),
            (b"cache-control", cache),
            (b"vary", b"accept-encoding"),
        ]
        if isinstance(rendered, bytes):
            body = rendered
        elif self.gzip:
            body = rendered.gzipped
            headers.append((b"content-encoding", b"gzip"))
        else:
            body = rendered.text
        return Reply(200, body, headers, self.head)

    def media(self, data: bytes | memoryview, session: StreamPackager) -> Reply:
        # Init segments, segments and parts never change, so the path names the bytes within
        # one packaging session; hashing every response body cost more than sending it.
        stamp = int(session.started_at.timestamp() * 1_000_000)
        etag = b'"%x-%x"' % (stamp, hash(self.path) & 0xFFFFFFFFFFFF)
        headers = [
            (b"content-type", MP4),
            (b"cache-control", IMMUTABLE),
            (b"etag", etag),
            (b"accept-ranges", b"bytes"),
        ]
        if header(self.headers, b"if-none-match") == etag:
            return Reply(304, headers=headers, head=True)
        try:
            wanted = parse_range(header(self.headers, b"range"), len(data))
        except ValueError:
            headers.append((b"content-range", f"bytes */{len(data)}".encode()))
            return Reply(416, headers=headers, head=self.head)
        if wanted is None:
            return Reply(200, data, headers, self.head)
        start, end = wanted
        headers.append((b"content-range", f"bytes {start}-{end}/{len(data)}".encode()))
        return Reply(206, data[start : end + 1], headers, self.head)

    async def stream_part(
        self, rendition: Rendition, segment: LiveSegment, part: LivePart, send: Send
    ) -> None:
        """Send a part while it is written: each chunk as soon as it exists (chunked encoding)."""
        headers = [*CORS, (b"content-type", MP4), (b"cache-control", IMMUTABLE)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        sent_chunks = sent_bytes = 0
        while not self.head:
            if segment.complete:  # its parts' chunks now live in the segment's bytes
                data = await rendition.segment_bytes(segment)
                rest = data[part.offset + sent_bytes : part.offset + part.size]
                await send({"type": "http.response.body", "body": rest, "more_body": True})
                break
            chunks = part.chunks[sent_chunks:]
            if chunks:
                body = b"".join(chunks)
                sent_chunks += len(chunks)
                sent_bytes += len(body)
                await send({"type": "http.response.body", "body": body, "more_body": True})
            if part.complete or rendition.ended:
                break
            await rendition.wait_change()
        await send({"type": "http.response.body", "body": b""})
