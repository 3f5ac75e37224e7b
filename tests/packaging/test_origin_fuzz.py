"""Fuzzing the origin: any path, query and headers get a reply a player understands, and
garbage on the wire closes that connection only."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livecast.delivery.http import Reply
from livecast.delivery.origin import Hold, Wait
from tests.packaging.conftest import Node, Tag, feed, until, until_ms

EXPECTED = {200, 204, 206, 304, 400, 403, 404, 405, 416}
FILES = st.sampled_from(
    [
        "master.m3u8",
        "source/index.m3u8",
        "audio/index.m3u8",
        "source/init-0.mp4",
        "source/seg-0.m4s",
        "source/part-0-0.m4s",
        "source/part-1-99.m4s",
        "nope/index.m3u8",
    ]
)
QUERY_KEYS = st.sampled_from(["_HLS_msn", "_HLS_part", "_HLS_skip", "token", "x"])
QUERY_VALUES = st.one_of(
    st.integers(-5, 10**13).map(str), st.sampled_from(["YES", "v2", "", "1e3"]), st.text()
)


async def live(wire_node: Node, tags: list[Tag]) -> dict[str, Any]:
    created = await wire_node.create_stream()
    stream, _ = await wire_node.publish(created["stream_key"])
    feed(stream, until_ms(tags, 4000))
    packager = wire_node.packager(stream)
    await until(lambda: packager.ready.is_set())
    return created


async def test_any_request_gets_a_reply_or_a_hold(wire_node: Node, source_tags: list[Tag]) -> None:
    created = await live(wire_node, source_tags)
    origin = wire_node.app.state.origin

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        method=st.sampled_from(["GET", "HEAD", "OPTIONS", "POST", "DELETE"]),
        path=st.one_of(
            FILES.map(lambda f: f"/hls/{created['id']}/{f}"),
            st.just(f"/dash/{created['id']}/manifest.mpd"),
            st.text().map(lambda t: "/hls/" + t),
            st.from_regex(r"/hls/[0-9a-f-]{36}/[a-z]+/part-\d{1,20}-\d{1,20}\.m4s", fullmatch=True),
        ),
        query=st.lists(st.tuples(QUERY_KEYS, QUERY_VALUES), max_size=4),
        headers=st.lists(
            st.tuples(
                st.sampled_from([b"range", b"if-none-match", b"accept-encoding", b"x"]),
                st.one_of(st.binary(max_size=30), st.sampled_from([b"bytes=0-10", b"bytes=-5"])),
            ),
            max_size=3,
        ),
    )
    def check(
        method: str, path: str, query: list[tuple[str, str]], headers: list[tuple[bytes, bytes]]
    ) -> None:
        raw = "&".join(f"{k}={v}" for k, v in query).encode("utf-8", "surrogatepass")
        outcome = origin.answer(method, path, raw, headers)
        if isinstance(outcome, Hold):
            reply = outcome.then()
            assert reply.status == 200
            assert outcome.expired().status == 503
            return
        if isinstance(outcome, Wait):
            return  # it waits for media: the ASGI path's business
        assert isinstance(outcome, Reply)
        assert outcome.status in EXPECTED, (method, path, query, outcome.status)
        if outcome.status >= 400 and outcome.status != 416:
            problem = json.loads(outcome.body)
            assert problem["status"] == outcome.status
            assert problem["detail"]

    check()


async def test_garbage_on_the_wire_closes_only_that_connection(
    wire_node: Node, source_tags: list[Tag]
) -> None:
    created = await live(wire_node, source_tags)
    host, port = str(wire_node.http.base_url).removeprefix("http://").split(":")
    rng = random.Random(1121)
    prefixes = [b"GET /hls/", b"GET /dash/", b"HEAD /hls/" + created["id"].encode() + b"/", b""]
    for _ in range(40):
        junk = rng.choice(prefixes) + bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(junk + b"\r\n\r\n")
        # Whatever the server makes of it, it answers or closes: it never hangs.
        await asyncio.wait_for(reader.read(65536), 10)
        writer.close()
        await writer.wait_closed()
        response = await wire_node.http.get(f"/hls/{created['id']}/source/init-0.mp4")
        assert response.status_code == 200


async def test_a_token_with_quotes_and_line_breaks_stays_inside_the_uris(
    wire_node: Node, source_tags: list[Tag]
) -> None:
    created = await live(wire_node, source_tags)
    evil = "%22%0A%23EXT-X-ENDLIST"  # a quote, a line break and a tag, percent-encoded
    for path in ("master.m3u8", "source/index.m3u8"):
        response = await wire_node.http.get(f"/hls/{created['id']}/{path}?token={evil}")
        assert response.status_code == 200
        assert "#EXT-X-ENDLIST" not in response.text
        assert "?token=%22%0A%23EXT-X-ENDLIST" in response.text
