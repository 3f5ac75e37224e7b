"""Peers that break the RTMP protocol, stall or overload the server, over real sockets.

Each is closed with a log line saying why, and the server keeps serving everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from livecast.context import AppContext
from livecast.ingest.rtmp_server import RtmpLimits
from livecast.protocols.rtmp.session import SessionConfig
from tests.ingest.node import Node, eventually, logged, running_node
from tests.ingest.rtmp_peer import RtmpPeer, assert_serving, rtmp_peer
from tests.protocols.rtmp_client import Client

# Short setup deadline, so timeouts are quick to test; small messages, so "too big" is cheap.
LIMITS = RtmpLimits(max_connections=16, setup_timeout=0.5, idle_timeout=10.0)
SESSION = SessionConfig(max_message_size=64 * 1024)


@pytest.fixture
async def node(ctx: AppContext) -> AsyncIterator[Node]:
    async with running_node(ctx, LIMITS, SESSION) as node:
        yield node


@dataclass
class Bystander:
    """A healthy publisher on the same server, to show a bad peer does not disturb others."""

    node: Node
    peer: RtmpPeer
    stream_id: str
    timestamp: int = 0

    async def assert_unharmed(self) -> None:
        """Its media still flows, and a new client still gets through."""
        received = len(self.node.registry.units(self.stream_id))
        self.timestamp += 23
        await self.peer.send_audio(self.timestamp)
        await eventually(
            lambda: len(self.node.registry.units(self.stream_id)) > received,
            "the bystander's frame",
        )
        await assert_serving(self.node.port)


@pytest.fixture
async def bystander(node: Node) -> AsyncIterator[Bystander]:
    headers = await node.user("bystander")
    stream_id, key = await node.create_stream(headers)
    async with rtmp_peer(node.port) as peer:
        await peer.publish_audio(key)
        await peer.send_audio(0)
        yield Bystander(node, peer, stream_id)


# A connection is closed at its deadline plus the server's timer interval (up to a second).
CLOSE_WITHIN = LIMITS.setup_timeout + 2.5


async def closed_because(peer: RtmpPeer, logs: pytest.LogCaptureFixture, fragment: str) -> None:
    """The server closes ``peer`` and logs a reason that mentions ``fragment``."""
    async with asyncio.timeout(CLOSE_WITHIN):
        await peer.closed_by_server()
    reasons = await eventually(
        lambda: logged(logs, "rtmp connection closed", peer.name), "the close to be logged"
    )
    assert fragment in reasons[0]


async def test_garbage_version_in_c0(
    node: Node, bystander: Bystander, ingest_logs: pytest.LogCaptureFixture
) -> None:
    async with rtmp_peer(node.port) as peer:
        await peer.send(b"\x06" + bytes(1536))
        await closed_because(peer, ingest_logs, "unsupported RTMP version 6")
    assert logged(ingest_logs, "rtmp protocol error; closing", peer.name)
    assert node.rtmp.counters.protocol_errors == 1
    await bystander.assert_unharmed()


async def test_truncated_handshake_times_out(
    node: Node, bystander: Bystander, ingest_logs: pytest.LogCaptureFixture
) -> None:
    async with rtmp_peer(node.port) as peer:
        await peer.send(peer.client.c0c1()[:100])
        await closed_because(peer, ingest_logs, "setup timeout")
    assert node.rtmp.counters.timeouts == 1
    await bystander.assert_unharmed()


async def test_slowloris_is_cut_off_at_the_setup_deadline(
    node: Node, bystander: Bystander, ingest_logs: pytest.LogCaptureFixture
) -> None:
    async def trickle(peer: RtmpPeer) -> None:
        with contextlib.suppress(ConnectionError):
            for byte in peer.client.c0c1():
                await peer.send(bytes((byte,)))
                await asyncio.sleep(0.1)  # the attack: always just active enough

    async with rtmp_peer(node.port) as peer:
        trickling = asyncio.create_task(trickle(peer))
        try:
            await closed_because(peer, ingest_logs, "setup timeout")
        finally:
            trickling.cancel()
            await asyncio.gather(trickling, return_exceptions=True)
    await bystander.assert_unharmed()


def oversized_chunk_size(client: Client) -> bytes:
    return client.message(2, 1, (1 << 30).to_bytes(4, "big"))


def oversized_message(client: Client) -> bytes:
    # Only the first chunk's 12-byte header: it announces 100 kB, over the 64 kB limit.
    return client.message(3, 20, bytes(100_000))[:12]


def unknown_message_type(client: Client) -> bytes:
    return client.message(3, 99, b"\x00\x01")


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (oversized_chunk_size, "Set Chunk Size to 1073741824"),
        (oversized_message, "message of 100000 bytes exceeds 65536"),
        (unknown_message_type, "unknown message type 99"),
    ],
)
async def test_protocol_violation_after_the_handshake(
    node: Node,
    bystander: Bystander,
    ingest_logs: pytest.LogCaptureFixture,
    build: Callable[[Client], bytes],
    fragment: str,
) -> None:
    async with rtmp_peer(node.port) as peer:
        await peer.connect()
        await peer.send(build(peer.client))
        await closed_because(peer, ingest_logs, fragment)
    assert fragment in logged(ingest_logs, "rtmp protocol error; closing", peer.name)[0]
    assert node.rtmp.counters.protocol_errors == 1
    await bystander.assert_unharmed()


async def test_malformed_media_tag_closes_the_publisher(
    node: Node, bystander: Bystander, ingest_logs: pytest.LogCaptureFixture
) -> None:
    headers = await node.user("mallory")
    stream_id, key = await node.create_stream(headers)
    async with rtmp_peer(node.port) as peer:
        await peer.publish_audio(key)
        await peer.send(peer.client.audio(0, b"\xaf"))  # an AAC tag cut after its first byte
        await closed_because(peer, ingest_logs, "protocol error")
    assert not node.publishing(stream_id)
    assert node.rtmp.counters.protocol_errors == 1
    await bystander.assert_unharmed()


async def test_idle_publisher_is_closed(
    ctx: AppContext, ingest_logs: pytest.LogCaptureFixture
) -> None:
    limits = RtmpLimits(setup_timeout=5.0, idle_timeout=0.5)
    async with running_node(ctx, limits) as node:
        headers = await node.user("alice")
        idle_id, idle_key = await node.create_stream(headers)
        busy_id, busy_key = await node.create_stream(headers)
        async with rtmp_peer(node.port) as idle, rtmp_peer(node.port) as busy:
            await idle.publish_audio(idle_key)
            await busy.publish_audio(busy_key)

            async def keep_sending() -> None:
                for timestamp in range(0, 10_000, 23):
                    await busy.send_audio(timestamp)
                    await asyncio.sleep(0.1)  # well inside the idle timeout

            sending = asyncio.create_task(keep_sending())
            try:
                await closed_because(idle, ingest_logs, "idle timeout")
                assert node.publishing(busy_id)
            finally:
                sending.cancel()
                await asyncio.gather(sending, return_exceptions=True)
        # Idle is not ended: the stream waits out the reconnect grace window.
        assert await node.status(idle_id, headers) == "live"
        assert not node.publishing(idle_id)
        assert node.rtmp.counters.timeouts == 1
        await assert_serving(node.port)


async def test_connections_over_the_limit_are_refused(
    ctx: AppContext, ingest_logs: pytest.LogCaptureFixture
) -> None:
    async with running_node(ctx, RtmpLimits(max_connections=2)) as node:
        async with rtmp_peer(node.port) as first, rtmp_peer(node.port) as second:
            await first.connect()
            await second.connect()
            async with rtmp_peer(node.port) as extra:
                async with asyncio.timeout(1.0):  # at once, not at a deadline
                    await extra.closed_by_server()
            assert node.rtmp.counters.refused_over_limit == 1
            assert logged(ingest_logs, "rtmp connection refused: limit reached", extra.name)
            await second.send(second.client.command("createStream"))
            await second.expect("_result")  # the admitted ones carry on
        await eventually(lambda: not node.rtmp.connections, "the connections to close")
        await assert_serving(node.port)
        assert node.rtmp.counters.refused_over_limit == 1


async def test_timestamp_jumps_are_counted_and_normalized(node: Node) -> None:
    headers = await node.user("alice")
    stream_id, key = await node.create_stream(headers)
    raw = [0, 23, 46, 20_046, 20_069, 1_000, 1_023, 1_010, 1_010, 1_046]
    async with rtmp_peer(node.port) as peer:
        await peer.publish_audio(key)
        await peer.send_audio(*raw)
        await eventually(lambda: len(node.registry.units(stream_id)) == len(raw), "every frame")

    units = node.registry.units(stream_id)
    assert [unit.payload for unit in units] == [ts.to_bytes(4, "big") for ts in raw]
    # 20 s forward and 19 s back are jumps: the track continues one frame (23 ms) on. The small
    # step back and the repeat are clamped to 1 ms after the previous unit.
    assert [unit.dts for unit in units] == [0, 23, 46, 69, 92, 115, 138, 139, 140, 161]
    assert [unit.media_time_ms for unit in units] == [unit.dts for unit in units]
    health = await node.health(stream_id, headers)
    assert health["timestamp_jumps"] == 2
    assert health["timestamps_clamped"] == 2
    assert health["audio_units"] == len(raw)
