"""livecast's own WebSocket protocol under uvicorn, as `livecast serve` runs rooms."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import connect as ws_connect

from livecast.protocols import websocket as ws
from livecast.realtime.wsserver import RoomWebSocketProtocol
from tests.protocols.test_websocket import client_frame
from tests.realtime.conftest import Person, eventually


@pytest.fixture
async def port(app: Any) -> AsyncIterator[int]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_config=None, lifespan="off", ws=RoomWebSocketProtocol
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, what="uvicorn to start")
    yield int(server.servers[0].sockets[0].getsockname()[1])
    server.should_exit = True
    await serving


async def raw_upgrade(port: int, path: str, version: str = "13") -> tuple[Any, Any, bytes]:
    """A TCP connection that sent an upgrade request; returns the response head too."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return reader, writer, head


async def read_frame(reader: Any) -> tuple[int, bytes]:
    first, second = await asyncio.wait_for(reader.readexactly(2), 5)
    size = second & 0x7F
    if size == 126:
        (size,) = struct.unpack("!H", await reader.readexactly(2))
    elif size == 127:
        (size,) = struct.unpack("!Q", await reader.readexactly(8))
    return first & 0x0F, await reader.readexactly(size)


async def test_rooms_are_served_and_other_paths_refused(
    port: int, person: Any, stream: Any
) -> None:
    alice: Person = await person("alice")
    room = await stream(alice, live=True)
    async with ws_connect(f"ws://127.0.0.1:{port}/ws/streams/{room.id}?token={alice.token}") as a:
        welcome = json.loads(await a.recv())
        assert (welcome["type"], welcome["user"]["name"]) == ("welcome", "alice")
        await a.send(json.dumps({"v": 1, "type": "comment", "cid": "c1", "text": "x" * 70}))
        while True:
            message = json.loads(await asyncio.wait_for(a.recv(), 5))
            if message.get("type") == "ack":
                assert message["ok"] is True
                break
        await asyncio.wait_for(await a.ping(b"are you there"), 5)  # answered with a pong
    for path, status in (("/ws/elsewhere", b"404"), (f"/ws/streams/{room.id}/x", b"404")):
        _, writer, head = await raw_upgrade(port, path)
        assert head.split(b" ")[1] == status
        writer.close()
    _, writer, head = await raw_upgrade(port, f"/ws/streams/{room.id}", version="8")
    assert head.split(b" ")[1] == b"426"
    writer.close()


async def test_a_peer_that_breaks_the_protocol_is_closed_and_others_go_on(
    port: int, person: Any, stream: Any, caplog: pytest.LogCaptureFixture
) -> None:
    alice: Person = await person("alice")
    room = await stream(alice, live=True)
    url = f"ws://127.0.0.1:{port}/ws/streams/{room.id}?token={alice.token}"
    async with ws_connect(url) as good:
        await good.recv()
        reader, writer, head = await raw_upgrade(port, f"/ws/streams/{room.id}")
        assert head.startswith(b"HTTP/1.1 101 ")
        opcode, _ = await read_frame(reader)  # the welcome
        assert opcode == ws.OP_TEXT
        writer.write(client_frame(ws.OP_TEXT, b'{"v":1}', mask=None))  # unmasked: not allowed
        while True:
            opcode, payload = await read_frame(reader)
            if opcode == ws.OP_CLOSE:
                break
        assert struct.unpack("!H", payload[:2])[0] == 1002
        assert b"masked" in payload
        assert await asyncio.wait_for(reader.read(), 5) == b""  # and the server hung up
        writer.close()
        assert "closing a WebSocket that broke the protocol" in caplog.text
        await good.send(json.dumps({"v": 1, "type": "comment", "cid": "c2", "text": "still"}))
        while True:
            message = json.loads(await asyncio.wait_for(good.recv(), 5))
            if message.get("type") == "ack":
                assert message["ok"] is True
                break


async def test_a_client_close_is_answered_with_the_same_code(
    port: int, person: Any, stream: Any
) -> None:
    alice: Person = await person("alice")
    room = await stream(alice, live=True)
    reader, writer, _ = await raw_upgrade(port, f"/ws/streams/{room.id}?token={alice.token}")
    await read_frame(reader)
    writer.write(client_frame(ws.OP_CLOSE, struct.pack("!H", 4000) + b"done"))
    while True:
        opcode, payload = await read_frame(reader)
        if opcode == ws.OP_CLOSE:
            break
    assert struct.unpack("!H", payload[:2])[0] == 4000
    writer.close()


async def test_the_delivery_trace_cuts_a_comments_way_through_the_server(
    port: int, person: Any, stream: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With LIVECAST_REALTIME_TRACE a room writes, per broadcast, when each comment arrived,
    came back committed and was handed to its first client, and when the broadcast started and
    reached its last client; in that order."""
    trace = tmp_path / "trace.jsonl"
    monkeypatch.setenv("LIVECAST_REALTIME_TRACE", str(trace))
    alice: Person = await person("alice")
    room = await stream(alice, live=True)
    url = f"ws://127.0.0.1:{port}/ws/streams/{room.id}?token={alice.token}"
    async with ws_connect(url) as a, ws_connect(url) as b:
        for client in (a, b):
            assert json.loads(await client.recv())["type"] == "welcome"
        await a.send(json.dumps({"type": "comment", "cid": "t1", "text": "traced"}))
        while True:
            message = json.loads(await asyncio.wait_for(b.recv(), 5))
            if message["type"] == "batch" and any(e.get("cid") == "t1" for e in message["events"]):
                break

        def traced() -> list[dict[str, Any]]:
            lines = trace.read_text().splitlines() if trace.exists() else []
            return [json.loads(line) for line in lines]

        await eventually(lambda: any(t["comments"] for t in traced()), what="a trace line")
    (tick,) = [t for t in traced() if any(c[0] == "t1" for c in t["comments"])]
    ((cid, arrived, delivered, handed),) = tick["comments"]
    assert cid == "t1"
    assert arrived <= delivered <= handed <= tick["done"]
    assert tick["tick"] <= handed
    assert 0 < tick["writing"] <= tick["done"] - tick["tick"]
    assert tick["clients"] == 2
    assert tick["queued"] == 0
    assert tick["bytes"] > len("traced")
