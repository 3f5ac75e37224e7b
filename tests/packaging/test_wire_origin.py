"""The origin on the wire (delivery/wire.py): answers past ASGI, held requests released
together, and uvicorn's connection rules (pipelining, keep-alive, close, shutdown) kept."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from livecast.delivery import origin as origin_module
from livecast.delivery import wire
from livecast.delivery.origin import HlsOrigin
from livecast.packaging.hls_view import preload_hint
from tests.packaging.conftest import Node, Tag, feed, until, until_ms, wire_server


async def live(wire_node: Node, tags: list[Tag], seconds: int = 4) -> tuple[Any, Any, Any]:
    created = await wire_node.create_stream()
    stream, _ = await wire_node.publish(created["stream_key"])
    feed(stream, until_ms(tags, seconds * 1000))
    packager = wire_node.packager(stream)
    await until(lambda: packager.ready.is_set() and len(packager.renditions) == 2)
    return created, stream, packager


def held(wire_node: Node) -> int:
    return len(wire_node.app.state.held_requests)


class RawClient:
    """One HTTP/1.1 connection, written and read by hand (for pipelining and closes)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, base: str) -> RawClient:
        host, port = base.removeprefix("http://").split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    def send(self, *targets: str, version: str = "1.1", extra: str = "") -> None:
        self.writer.write(
            "".join(
                f"GET {t} HTTP/{version}\r\nHost: test\r\n{extra}\r\n" for t in targets
            ).encode()
        )

    async def response(self) -> tuple[int, dict[str, str], bytes]:
        """The next response: status, headers (lower-case names) and body."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")[:-2]
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers["content-length"]))
        return int(status_line.split()[1]), headers, body

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def blocking_url(created: dict[str, Any], msn: int, part: int) -> str:
    return f"/hls/{created['id']}/source/index.m3u8?_HLS_msn={msn}&_HLS_part={part}"


async def test_ready_media_and_held_playlists_never_reach_asgi(
    wire_node: Node, source_tags: list[Tag], monkeypatch: pytest.MonkeyPatch
) -> None:
    created, stream, packager = await live(wire_node, source_tags)
    through_asgi: list[str] = []
    asgi = HlsOrigin.__call__

    async def counted(self: HlsOrigin, scope: Any, receive: Any, send: Any) -> None:
        through_asgi.append(scope["path"])
        await asgi(self, scope, receive, send)

    monkeypatch.setattr(HlsOrigin, "__call__", counted)
    base = f"/hls/{created['id']}"
    video = packager.renditions["source"]
    first = video.segments[0]
    for path in (
        f"{base}/master.m3u8",
        f"{base}/source/index.m3u8",
        f"{base}/source/init-0.mp4",
        f"{base}/source/seg-{first.msn}.m4s",
        f"{base}/source/part-{first.msn}-0.m4s",
        f"/dash/{created['id']}/manifest.mpd",
    ):
        response = await wire_node.http.get(path)
        assert response.status_code == 200, path
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["x-request-id"]
        assert response.headers["date"]
    msn, part = preload_hint(video)
    request = asyncio.create_task(wire_node.http.get(blocking_url(created, msn, part)))
    await until(lambda: held(wire_node) == 1)
    feed(stream, [t for t in source_tags if 4000 <= t[1] < 4600])
    response = await asyncio.wait_for(request, 5)
    assert response.status_code == 200
    assert f"part-{msn}-{part}.m4s" in response.text
    assert through_asgi == []
    # The part being written is streamed as it grows: that one goes through ASGI.
    hint_msn, hint_part = preload_hint(video)
    streamed = asyncio.create_task(
        wire_node.http.get(f"{base}/source/part-{hint_msn}-{hint_part}.m4s")
    )
    await until(lambda: len(through_asgi) == 1)
    feed(stream, [t for t in source_tags if 4600 <= t[1] < 5400])
    assert (await asyncio.wait_for(streamed, 5)).status_code == 200


async def test_held_requests_are_released_together(wire_node: Node, source_tags: list[Tag]) -> None:
    created, stream, packager = await live(wire_node, source_tags)
    video = packager.renditions["source"]
    msn, part = preload_hint(video)
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(base_url=str(wire_node.http.base_url), limits=limits) as http:
        urls = [blocking_url(created, msn, part)] * 60 + [
            blocking_url(created, msn, part) + "&token=abc"  # URIs carry a given token
        ] * 40
        requests = [asyncio.create_task(http.get(url)) for url in urls]
        await until(lambda: held(wire_node) == 100)
        assert not any(r.done() for r in requests)
        feed(stream, [t for t in source_tags if 4000 <= t[1] < 4600])
        responses = await asyncio.wait_for(asyncio.gather(*requests), 10)
    assert held(wire_node) == 0
    assert all(r.status_code == 200 for r in responses)
    assert all(f"part-{msn}-{part}.m4s" in r.text for r in responses)
    assert sum(f"part-{msn}-{part}.m4s?token=abc" in r.text for r in responses) == 40
    assert len({r.headers["x-request-id"] for r in responses}) == 100
    metrics = (await wire_node.http.get("/metrics")).text
    assert "livecast_hls_held_release_seconds_count 1.0" in metrics
    assert "livecast_hls_held_requests 0.0" in metrics


async def test_a_closed_connection_is_forgotten_while_held(
    wire_node: Node, source_tags: list[Tag]
) -> None:
    created, _, packager = await live(wire_node, source_tags)
    client = await RawClient.connect(str(wire_node.http.base_url))
    client.send(blocking_url(created, *preload_hint(packager.renditions["source"])))
    await until(lambda: held(wire_node) == 1)
    await client.close()
    await until(lambda: held(wire_node) == 0)


async def test_pipelined_requests_are_answered_in_order(
    wire_node: Node, source_tags: list[Tag]
) -> None:
    created, stream, packager = await live(wire_node, source_tags)
    video = packager.renditions["source"]
    msn, part = preload_hint(video)
    client = await RawClient.connect(str(wire_node.http.base_url))
    client.send(blocking_url(created, msn, part), f"/hls/{created['id']}/source/init-0.mp4")
    await until(lambda: held(wire_node) == 1)
    first = asyncio.create_task(client.response())
    await asyncio.sleep(0.2)
    assert not first.done()  # nothing comes: the init segment waits behind the held playlist
    feed(stream, [t for t in source_tags if 4000 <= t[1] < 4600])
    status, _, body = await first
    assert status == 200
    assert f"part-{msn}-{part}.m4s".encode() in body
    status, headers, init = await client.response()
    assert status == 200
    assert headers["content-type"] == "video/mp4"
    assert init[4:8] == b"ftyp"
    await client.close()


async def test_http_1_0_and_connection_close_close_the_connection(
    wire_node: Node, source_tags: list[Tag]
) -> None:
    created, _, _ = await live(wire_node, source_tags)
    path = f"/hls/{created['id']}/source/init-0.mp4"
    for version, extra in (("1.0", ""), ("1.1", "Connection: close\r\n")):
        client = await RawClient.connect(str(wire_node.http.base_url))
        client.send(path, version=version, extra=extra)
        data = await asyncio.wait_for(client.reader.read(), 5)  # to EOF: the server closed
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert b"connection: close" in head.lower()
        assert body[4:8] == b"ftyp"
        await client.close()


async def test_head_sends_no_body_and_bad_requests_get_problems(
    wire_node: Node, source_tags: list[Tag]
) -> None:
    created, _, _ = await live(wire_node, source_tags)
    init = f"/hls/{created['id']}/source/init-0.mp4"
    full = await wire_node.http.get(init)
    head = await wire_node.http.head(init)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(full.content))
    for path, status in (
        (f"/hls/{created['id']}/nope/index.m3u8", 404),
        (f"/hls/{created['id']}/source/init-9.mp4", 404),
        ("/hls/------------------------------------/master.m3u8", 404),
        (f"/hls/{created['id']}/source/index.m3u8?_HLS_msn=99999", 400),
    ):
        response = await wire_node.http.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"]
    assert (await wire_node.http.post(init)).status_code == 405


async def test_a_held_request_times_out_or_ends_with_the_stream(
    wire_node: Node, source_tags: list[Tag], monkeypatch: pytest.MonkeyPatch
) -> None:
    created, _, packager = await live(wire_node, source_tags)
    video = packager.renditions["source"]
    msn, _ = preload_hint(video)
    monkeypatch.setattr(origin_module, "target_duration", lambda _: 0.1)
    monkeypatch.setattr(wire, "SWEEP_SECONDS", 0.05)
    late = await asyncio.wait_for(wire_node.http.get(blocking_url(created, msn + 1, 0)), 5)
    assert late.status_code == 503
    assert late.headers["content-type"] == "application/problem+json"
    monkeypatch.setattr(origin_module, "target_duration", lambda _: 10)
    request = asyncio.create_task(wire_node.http.get(blocking_url(created, msn + 1, 0)))
    await until(lambda: held(wire_node) == 1)
    video.finish()
    ended = await asyncio.wait_for(request, 5)
    assert ended.status_code == 503
    assert held(wire_node) == 0


async def test_shutdown_answers_held_requests(wire_node: Node, source_tags: list[Tag]) -> None:
    created, _, packager = await live(wire_node, source_tags)
    msn, part = preload_hint(packager.renditions["source"])
    async with wire_server(wire_node.app) as base:
        client = await RawClient.connect(base)
        client.send(blocking_url(created, msn, part))
        await until(lambda: held(wire_node) == 1)
    data = await asyncio.wait_for(client.reader.read(), 5)
    assert data.startswith(b"HTTP/1.1 503")
    assert b"connection: close" in data.lower()
    assert held(wire_node) == 0
    await client.close()
