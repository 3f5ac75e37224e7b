"""The HLS origin: playlists with blocking reload, parts streamed as they are written, segments.

Routes (all GET or HEAD; OPTIONS answers CORS preflights)::

    /hls/{stream_id}/master.m3u8
    /hls/{stream_id}/{rendition}/index.m3u8   ?_HLS_msn=&_HLS_part=&_HLS_skip=YES|v2
    /hls/{stream_id}/{rendition}/init-{version}.mp4
    /hls/{stream_id}/{rendition}/seg-{msn}.m4s
    /hls/{stream_id}/{rendition}/part-{msn}-{index}.m4s

It is a raw ASGI app: the per-request cost matters (thousands of players each poll a playlist
and fetch three parts a second). Streams that are not public need ``?token=`` with a playback
token on every URL; playlists hand the token on to the URIs they list.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from livecast.delivery.http import CORS, header, parse_range, problem, respond
from livecast.errors import AuthenticationError
from livecast.packaging.dash_view import render_manifest
from livecast.packaging.hls_view import preload_hint, render_master, render_media, target_duration
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

_DASH_ROUTE = re.compile(r"^/dash/(?P<sid>[0-9a-fA-F-]{36})/manifest\.mpd$")
DASH_TIME_PATH = "/dash/time"
MPD = b"application/dash+xml"
_ROUTE = re.compile(
    r"^/hls/(?P<sid>[0-9a-fA-F-]{36})/(?:(?P<master>master\.m3u8)|(?P<rendition>[a-z0-9_]+)/"
    r"(?:(?P<index>index\.m3u8)|init-(?P<init>\d+)\.mp4|seg-(?P<seg>\d+)\.m4s"
    r"|part-(?P<pmsn>\d+)-(?P<part>\d+)\.m4s))$"
)


class HlsOrigin:
    def __init__(self, packagers: Packagers, signer: TokenSigner) -> None:
        self.packagers = packagers
        self.signer = signer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method = scope["method"]
        if method == "OPTIONS":
            await respond(send, 204, headers=_preflight())
            return
        if method not in ("GET", "HEAD"):
            await problem(send, 405, "Method not allowed", f"{method} is not allowed here.", path)
            return
        if path == DASH_TIME_PATH:
            now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            await respond(
                send,
                200,
                now.encode(),
                [(b"content-type", b"text/plain"), (b"cache-control", b"no-store")],
            )
            return
        match = _ROUTE.match(path) or _DASH_ROUTE.match(path)
        if match is None:
            await problem(send, 404, "Not found", f"There is nothing at {path}.", path)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        packager = self.packagers.get(uuid.UUID(match["sid"]))
        if packager is None:
            await problem(send, 404, "Not found", "This stream is not live.", path)
            return
        token = (query.get("token") or [""])[0]
        if not packager.public:
            try:
                self.signer.verify_playback(token, packager.stream_id)
            except AuthenticationError as exc:
                detail = f"This stream needs a playback token in ?token=: {exc.detail}"
                await problem(send, 403, "Playback token required", detail, path)
                return
        request = _Request(scope, send, path, query, f"?token={token}" if token else "")
        scope["livecast.route"] = _route_label(match)
        if match.re is _DASH_ROUTE:
            await self._manifest(request, packager)
            return
        if match["master"]:
            await self._master(request, packager)
            return
        rendition = packager.renditions.get(match["rendition"])
        if rendition is None:
            await problem(send, 404, "Not found", "This stream has no such rendition.", path)
        elif match["index"]:
            await self._media_playlist(request, packager, rendition)
        elif match["init"] is not None:
            await self._init(request, packager, rendition, int(match["init"]))
        elif match["seg"] is not None:
            await self._segment(request, packager, rendition, int(match["seg"]))
        else:
            await self._part(request, packager, rendition, int(match["pmsn"]), int(match["part"]))

    # -- playlists ------------------------------------------------------------------------

    async def _master(self, request: _Request, packager: StreamPackager) -> None:
        if await _ready(request, packager):
            await request.playlist(render_master(packager, request.suffix), NO_CACHE)

    async def _manifest(self, request: _Request, packager: StreamPackager) -> None:
        # An MPD with an empty SegmentTimeline leaves dash.js waiting forever: like the master
        # playlist, it waits for a complete segment in every rendition.
        if await _ready(request, packager):
            manifest = render_manifest(packager, request.suffix, DASH_TIME_PATH)
            headers = [(b"content-type", MPD), (b"cache-control", NO_CACHE)]
            await respond(request.send, 200, manifest, headers, head=request.head)

    async def _media_playlist(
        self, request: _Request, packager: StreamPackager, rendition: Rendition
    ) -> None:
        try:
            msn_arg, part_arg = request.int_arg("_HLS_msn"), request.int_arg("_HLS_part")
            if part_arg is not None and msn_arg is None:
                raise ValueError("_HLS_part without _HLS_msn")
        except ValueError:
            detail = "_HLS_msn and _HLS_part must be whole numbers; _HLS_part needs _HLS_msn."
            await request.problem(400, "Bad request", detail)
            return
        skip_arg = (request.query.get("_HLS_skip") or ["NO"])[0]
        skip = {"YES": "yes", "v2": "v2"}.get(skip_arg, "none")
        cache = NO_CACHE
        if msn_arg is not None:
            part = part_arg
            if msn_arg > rendition.next_msn + 1:  # the in-progress segment is next_msn - 1
                await request.problem(
                    400,
                    "Bad request",
                    f"_HLS_msn={msn_arg} is more than two segments ahead of the live edge "
                    f"({rendition.next_msn - 1}).",
                )
                return
            timeout = 3 * target_duration(packager)
            if not await _until(rendition, lambda: rendition.has_part(msn_arg, part), timeout):
                await request.problem(
                    503, "Service unavailable", "The requested part did not appear in time."
                )
                return
            cache = BLOCKING_CACHE
        rendered = render_media(packager, rendition, skip, request.suffix)  # type: ignore[arg-type]
        await request.playlist(rendered, cache)

    # -- media ----------------------------------------------------------------------------

    async def _init(
        self, request: _Request, packager: StreamPackager, rendition: Rendition, version: int
    ) -> None:
        init = rendition.inits.get(version)
        if init is None:
            await request.problem(404, "Not found", "No such init segment.")
            return
        await request.media(init.data, packager)

    async def _segment(
        self, request: _Request, packager: StreamPackager, rendition: Rendition, msn: int
    ) -> None:
        segment = rendition.segment(msn)
        if segment is None or not segment.complete or segment.gap:
            await request.problem(404, "Not found", f"Segment {msn} is not available.")
            return
        await request.media(await rendition.segment_bytes(segment), packager)

    async def _part(
        self,
        request: _Request,
        packager: StreamPackager,
        rendition: Rendition,
        msn: int,
        index: int,
    ) -> None:
        hinted = (msn, index) == preload_hint(rendition)
        if hinted:
            await _until(rendition, lambda: _find_part(rendition, msn, index) is not None, 10)
        found = _find_part(rendition, msn, index)
        if found is None:
            await request.problem(
                404, "Not found", f"Part {index} of segment {msn} is not available."
            )
            return
        segment, part = found
        if segment.complete:
            data = await rendition.segment_bytes(segment)
            await request.media(data[part.offset : part.offset + part.size], packager)
        elif part.complete:
            await request.media(b"".join(part.chunks), packager)
        else:
            await request.stream_part(rendition, segment, part)


async def _ready(request: _Request, packager: StreamPackager) -> bool:
    """Wait until every rendition has a complete segment; answer 404 if that takes too long."""
    try:
        await asyncio.wait_for(packager.ready.wait(), MASTER_WAIT_SECONDS)
    except TimeoutError:
        await request.problem(404, "Not found", "The stream has no media yet; retry shortly.")
        return False
    return True


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


def _route_label(match: re.Match[str]) -> str:
    if match.re is _DASH_ROUTE:
        return "/dash/{id}/manifest.mpd"
    if match["master"]:
        return "/hls/{id}/master.m3u8"
    for kind, label in (("index", "index.m3u8"), ("init", "init"), ("seg", "segment")):
        if match[kind] is not None:
            return f"/hls/{{id}}/{{rendition}}/{label}"
    return "/hls/{id}/{rendition}/part"


def _preflight() -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
        (b"access-control-allow-headers", b"range, if-none-match"),
        (b"access-control-max-age", b"86400"),
    ]


class _Request:
    __slots__ = ("head", "path", "query", "scope", "send", "suffix")

    def __init__(
        self, scope: Scope, send: Send, path: str, query: dict[str, list[str]], suffix: str
    ) -> None:
        self.scope = scope
        self.send = send
        self.path = path
        self.query = query
        self.suffix = suffix
        self.head = scope["method"] == "HEAD"

    def int_arg(self, name: str) -> int | None:
        """A whole-number query argument; ValueError when it is something else."""
        values = self.query.get(name)
        if not values:
            return None
        if not values[0].isdigit() or len(values[0]) > 11:
            raise ValueError(name)
        return int(values[0])

    async def problem(self, status: int, title: str, detail: str) -> None:
        await problem(self.send, status, title, detail, self.path)

    async def playlist(self, rendered: Any, cache: bytes) -> None:
        if isinstance(rendered, bytes):
            body, encoding = rendered, None
        elif b"gzip" in (header(self.scope, b"accept-encoding") or b""):
            body, encoding = rendered.gzipped, b"gzip"
        else:
            body, encoding = rendered.text, None
        headers = [
            (b"content-type", PLAYLIST),
            (b"cache-control", cache),
            (b"vary", b"accept-encoding"),
        ]
        if encoding:
            headers.append((b"content-encoding", encoding))
        await respond(self.send, 200, body, headers, head=self.head)

    async def media(self, data: bytes, session: StreamPackager) -> None:
        # Init segments, segments and parts never change, so the path names the bytes within
        # one packaging session; hashing every response body cost more than sending it.
        stamp = int(session.started_at.timestamp() * 1_000_000)
        etag = b'"%x-%x"' % (stamp, hash(self.path) & 0xFFFFFFFFFFFF)
        cache = IMMUTABLE
        headers = [
            (b"content-type", MP4),
            (b"cache-control", cache),
            (b"etag", etag),
            (b"accept-ranges", b"bytes"),
        ]
        if header(self.scope, b"if-none-match") == etag:
            await respond(self.send, 304, headers=headers, head=True)
            return
        try:
            wanted = parse_range(header(self.scope, b"range"), len(data))
        except ValueError:
            headers.append((b"content-range", f"bytes */{len(data)}".encode()))
            await respond(self.send, 416, headers=headers, head=self.head)
            return
        if wanted is None:
            await respond(self.send, 200, data, headers, head=self.head)
            return
        start, end = wanted
        headers.append((b"content-range", f"bytes {start}-{end}/{len(data)}".encode()))
        await respond(self.send, 206, data[start : end + 1], headers, head=self.head)

    async def stream_part(self, rendition: Rendition, segment: LiveSegment, part: LivePart) -> None:
        """Send a part while it is written: each chunk as soon as it exists (chunked encoding)."""
        headers = [*CORS, (b"content-type", MP4), (b"cache-control", IMMUTABLE)]
        await self.send({"type": "http.response.start", "status": 200, "headers": headers})
        sent_chunks = sent_bytes = 0
        while not self.head:
            if segment.complete:  # its parts' chunks now live in the segment's bytes
                data = await rendition.segment_bytes(segment)
                rest = data[part.offset + sent_bytes : part.offset + part.size]
                await self.send({"type": "http.response.body", "body": rest, "more_body": True})
                break
            chunks = part.chunks[sent_chunks:]
            if chunks:
                body = b"".join(chunks)
                sent_chunks += len(chunks)
                sent_bytes += len(body)
                await self.send({"type": "http.response.body", "body": body, "more_body": True})
            if part.complete or rendition.ended:
                break
            await rendition.wait_change()
        await self.send({"type": "http.response.body", "body": b""})
