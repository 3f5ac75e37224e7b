"""RTMP handshake: plain and digest answers checked the way clients check them, a real ffmpeg C1,
and (e2e) a real ffmpeg player, which refuses a server whose S1/S2 digests are wrong."""

from __future__ import annotations

import asyncio
import random
import subprocess
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import pytest

from livecast.errors import ProtocolError
from livecast.protocols.rtmp import (
    MediaReceived,
    MetadataReceived,
    PlayRequested,
    PublishRequested,
    ServerSession,
    SessionState,
)
from livecast.protocols.rtmp.handshake import HANDSHAKE_SIZE, ServerHandshake, client_digest

from .rtmp_client import digest_position, make_c1, s2_signed_for, server_digest_valid

CAPTURES = Path(__file__).parent / "captures"


def answer(c0c1: bytes) -> tuple[ServerHandshake, bytes]:
    handshake = ServerHandshake(random_bytes=random.Random(7).randbytes)
    return handshake, handshake.receive_data(c0c1)


def test_plain_client_gets_s1_and_c1_echoed_as_s2() -> None:
    c1 = make_c1(random.Random(1), digest=False)
    handshake, response = answer(b"\x03" + c1)
    assert len(response) == 1 + 2 * HANDSHAKE_SIZE
    assert response[0] == 3
    assert response[1 + HANDSHAKE_SIZE :] == c1
    assert response[5:9] == bytes(4)  # S1 announces no digest
    assert not handshake.digest


@pytest.mark.parametrize("schema", [0, 1])
def test_digest_client_gets_signed_s1_and_s2(schema: int) -> None:
    c1 = make_c1(random.Random(2), digest=True, schema=schema)
    position = digest_position(c1, schema)
    assert client_digest(c1) == (c1[position : position + 32], schema)
    handshake, response = answer(b"\x03" + c1)
    s1 = response[1 : 1 + HANDSHAKE_SIZE]
    s2 = response[1 + HANDSHAKE_SIZE :]
    assert handshake.digest
    assert s1[4] >= 3  # ffmpeg checks the server digest when this byte is 3 or more
    found = server_digest_valid(s1)
    assert found is not None
    assert found[1] == schema
    assert s2_signed_for(s2, c1[position : position + 32])


def test_client_with_a_wrong_digest_falls_back_to_the_plain_answer() -> None:
    c1 = bytearray(make_c1(random.Random(3), digest=True))
    c1[100:1500] = bytes(1400)  # digest no longer matches, wherever it is
    handshake, response = answer(b"\x03" + bytes(c1))
    assert response[1 + HANDSHAKE_SIZE :] == bytes(c1)
    assert not handshake.digest


def test_byte_by_byte_and_leftover_after_c2() -> None:
    handshake = ServerHandshake()
    c1 = make_c1(random.Random(4), digest=True)
    stream = b"\x03" + c1 + bytes(HANDSHAKE_SIZE) + b"next"
    responses = []
    for index in range(len(stream) - 4):
        responses.append(handshake.receive_data(stream[index : index + 1]))
        assert handshake.done == (index == len(stream) - 5)
    answered_at = [index for index, response in enumerate(responses) if response]
    assert answered_at == [HANDSHAKE_SIZE]  # as soon as C0 and all of C1 are in
    assert len(responses[HANDSHAKE_SIZE]) == 1 + 2 * HANDSHAKE_SIZE
    handshake = ServerHandshake()
    handshake.receive_data(stream)
    assert handshake.done
    assert handshake.leftover == b"next"
    with pytest.raises(RuntimeError):
        handshake.receive_data(b"")


@pytest.mark.parametrize("version", [0, 6, 0x16, 0xFF])
def test_other_rtmp_versions_are_refused_at_the_first_byte(version: int) -> None:
    with pytest.raises(ProtocolError, match=f"version {version}"):
        ServerHandshake().receive_data(bytes((version,)))


def test_ffmpeg_c1_carries_a_valid_digest() -> None:
    capture = (CAPTURES / "ffmpeg_publish.bin").read_bytes()
    found = client_digest(capture[1 : 1 + HANDSHAKE_SIZE])
    assert found is not None
    assert found[1] == 0


# -- a real player ---------------------------------------------------------------------------------


def captured_publish() -> tuple[dict[str, Any], list[MediaReceived]]:
    """The metadata and media of the ffmpeg capture."""
    session = ServerSession()
    session.receive_data((CAPTURES / "ffmpeg_publish.bin").read_bytes())
    assert any(isinstance(event, PublishRequested) for event in session.events_received())
    session.accept_publish()
    events = session.events_received()
    [metadata] = [event.metadata for event in events if isinstance(event, MetadataReceived)]
    return metadata, [event for event in events if isinstance(event, MediaReceived)]


async def serve_one_player(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, result: asyncio.Future[bool]
) -> None:
    """Play the capture to one client, then hang up (the player reads to the end)."""
    session = ServerSession()
    metadata, media = captured_publish()
    while not session.should_close and (data := await reader.read(65536)):
        session.receive_data(data)
        events = session.events_received()
        if any(isinstance(event, PlayRequested) for event in events):
            session.accept_play()
            session.send_metadata(metadata)
            for item in media:
                send = session.send_audio if item.kind == "audio" else session.send_video
                send(item.timestamp_ms, item.payload)
        writer.write(session.data_to_send())
        await writer.drain()
        if session.state is SessionState.PLAYING:
            break
    writer.close()
    result.set_result(session.digest_handshake)


@pytest.mark.e2e
async def test_ffmpeg_player_accepts_the_digest_answer(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    result: asyncio.Future[bool] = loop.create_future()
    server = await asyncio.start_server(lambda r, w: serve_one_player(r, w, result), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    output = tmp_path / "frames.txt"
    async with server:
        process = await asyncio.create_subprocess_exec(
            imageio_ffmpeg.get_ffmpeg_exe(),
            *("-hide_banner", "-loglevel", "error", "-i", f"rtmp://127.0.0.1:{port}/live/k"),
            *("-map", "0:v", "-frames:v", "5", "-f", "framemd5", str(output)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        await asyncio.sleep(0)  # the transport closes itself in a call_soon callback
    assert process.returncode == 0, stderr.decode()
    assert await asyncio.wait_for(result, timeout=10) is True
    frames = [line for line in output.read_text().splitlines() if not line.startswith("#")]
    assert len(frames) == 5
