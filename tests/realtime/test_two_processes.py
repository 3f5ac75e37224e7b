"""Two real `livecast serve` processes on different ports, sharing PostgreSQL and Redis.

Viewers on either node see the same events with the same seqs in the same order, the same
viewer count, and a ban set through one node refuses on the other. Each run gets its own
database and its own Redis key prefix.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from livecast.testing import free_port
from tests.conftest import PG_ENV, _postgres_unavailable
from tests.realtime.conftest import drop_prefix, redis_unavailable, redis_url

pytestmark = pytest.mark.e2e

Json = dict[str, Any]


@pytest.fixture
async def database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for the two nodes; dropped afterwards."""
    reason = await _postgres_unavailable()
    if reason:
        pytest.skip(reason)
    url = make_url(os.environ[PG_ENV])
    name = f"lc_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    reason = await redis_unavailable()
    if reason:
        pytest.skip(reason)
    prefix = f"lctest-{uuid.uuid4().hex[:12]}"
    yield prefix
    await drop_prefix(prefix)


@dataclass
class Node:
    port: int
    process: subprocess.Popen[bytes]
    http: httpx.AsyncClient

    def ws_url(self, stream_id: str, token: str, session_id: str) -> str:
        query = f"token={token}&session_id={session_id}"
        return f"ws://127.0.0.1:{self.port}/ws/streams/{stream_id}?{query}"


async def start_node(tmp_path: Path, name: str, env: dict[str, str]) -> Node:
    port = free_port()
    data = tmp_path / name
    data.mkdir()
    command = [sys.executable, "-m", "livecast", "serve", "--http-port", str(port)]
    command += ["--rtmp-port", str(free_port()), "--data-dir", str(data)]
    with (data / "stderr.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=data, env=env, stderr=log)  # noqa: ASYNC220
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
    node = Node(port, process, http)
    try:
        await until(lambda: _healthy(node), 60, f"node {name} to answer /healthz")
    except BaseException:
        await stop(node)
        raise
    return node


async def _healthy(node: Node) -> bool:
    assert node.process.poll() is None, "the server exited (see its stderr.log)"
    try:
        return (await node.http.get("/healthz")).status_code == 200
    except httpx.HTTPError:
        return False


async def until(check: Callable[[], Any], within: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def stop(node: Node) -> None:
    await node.http.aclose()
    node.process.terminate()
    await asyncio.to_thread(node.process.wait, 20)


@pytest.fixture
async def nodes(tmp_path: Path, database: str, redis_prefix: str) -> AsyncIterator[list[Node]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVECAST_")}
    env |= {
        "LIVECAST_DATABASE_URL": database,
        "LIVECAST_BUS_URL": redis_url(),
        "LIVECAST_BUS_KEY_PREFIX": redis_prefix,
        "LIVECAST_SECRET_KEY": "two-nodes-share-this-signing-key-0123456789",
        "LIVECAST_LOG_LEVEL": "WARNING",
        "LIVECAST_HLS_ENABLED": "false",
        "LIVECAST_CHAT_BURST": "50",  # the test chats faster than people do
    }
    first = await start_node(tmp_path, "a", env)  # migrates the database...
    try:
        second = await start_node(tmp_path, "b", env)  # ...so this one finds it ready
    except BaseException:
        await stop(first)
        raise
    yield [first, second]
    await asyncio.gather(stop(first), stop(second))


async def register(node: Node, name: str) -> tuple[str, str]:
    user = {"username": name, "email": f"{name}@example.com", "password": f"{name} password"}
    created = await node.http.post("/api/v1/auth/register", json=user)
    created.raise_for_status()
    login = await node.http.post(
        "/api/v1/auth/login", json={"username": name, "password": user["password"]}
    )
    login.raise_for_status()
    return created.json()["id"], login.json()["access_token"]


@dataclass
class Viewer:
    ws: Any
    events: list[Json] = field(default_factory=list)
    acks: dict[str, Json] = field(default_factory=dict)

    async def read_until(self, done: Callable[[], bool], within: float = 15) -> None:
        async with asyncio.timeout(within):
            while not done():
                message = json.loads(await self.ws.recv())
                if message["type"] == "batch":
                    self.events += message["events"]
                elif message["type"] == "ack":
                    self.acks[message["cid"]] = message

    def comments(self) -> list[tuple[int, str]]:
        return [(e["seq"], e["text"]) for e in self.events if e["type"] == "comment"]

    def viewers(self) -> int | None:
        counts = [e["viewers"] for e in self.events if e["type"] == "viewer_update"]
        return counts[-1] if counts else None

    async def comment(self, cid: str, text: str) -> None:
        await self.ws.send(json.dumps({"v": 1, "type": "comment", "cid": cid, "text": text}))


async def test_two_processes_share_one_room(nodes: list[Node]) -> None:
    a, b = nodes
    _, alice = await register(a, "alice")
    _, bob = await register(b, "bob")
    carol_id, carol = await register(a, "carol")
    headers = {"Authorization": f"Bearer {alice}"}
    created = await a.http.post("/api/v1/streams", json={"title": "two"}, headers=headers)
    created.raise_for_status()
    stream_id = created.json()["id"]
    (await b.http.post(f"/api/v1/streams/{stream_id}/start", headers=headers)).raise_for_status()

    async with (
        websockets.connect(a.ws_url(stream_id, bob, "bob-on-a")) as on_a,
        websockets.connect(b.ws_url(stream_id, carol, "carol-on-b")) as on_b,
    ):
        bob_a, carol_b = Viewer(on_a), Viewer(on_b)
        for viewer in (bob_a, carol_b):
            assert json.loads(await viewer.ws.recv())["type"] == "welcome"

        for n in range(10):
            await bob_a.comment(f"a{n}", f"bob {n}")
            await carol_b.comment(f"b{n}", f"carol {n}")
        for viewer in (bob_a, carol_b):
            await viewer.read_until(lambda v=viewer: len(v.comments()) == 20)  # type: ignore[misc]
        assert bob_a.comments() == carol_b.comments()
        seqs = [seq for seq, _ in bob_a.comments()]
        assert seqs == sorted(seqs)
        acked = {**bob_a.acks, **carol_b.acks}
        assert sorted(ack["seq"] for ack in acked.values()) == seqs

        for viewer in (bob_a, carol_b):  # each node counts both viewers
            await viewer.read_until(lambda v=viewer: v.viewers() == 2)  # type: ignore[misc]

        banned = await a.http.put(
            f"/api/v1/streams/{stream_id}/bans/{carol_id}", json={}, headers=headers
        )
        assert banned.status_code < 300, banned.text
        await carol_b.read_until(lambda: any(e["type"] == "ban" for e in carol_b.events))
        await carol_b.comment("after-ban", "can you hear me?")
        await carol_b.read_until(lambda: "after-ban" in carol_b.acks)
        assert carol_b.acks["after-ban"]["ok"] is False
        assert carol_b.acks["after-ban"]["reason"] == "banned"
