"""RFC 6455 on the server's side: the handshake, client frames in, server frames out."""

from __future__ import annotations

import base64
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livecast.protocols import websocket as ws

KEY = base64.b64encode(b"0123456789abcdef").decode()


def client_frame(
    opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = b"\x01\x02\x03\x04"
) -> bytes:
    """A frame as a client sends it (masked, unless ``mask`` is None)."""
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    masked = 0x80 if mask is not None else 0
    if size < 126:
        header = struct.pack("!BB", first, masked | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", first, masked | 126, size)
    else:
        header = struct.pack("!BBQ", first, masked | 127, size)
    if mask is None:
        return header + payload
    return header + mask + ws.unmask(payload, mask)  # masking is its own inverse


def request(*extra: str, target: str = "/ws/streams/abc?token=t%20x&since=3") -> bytes:
    lines = [
        f"GET {target} HTTP/1.1",
        "Host: localhost",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {KEY}",
        "Sec-WebSocket-Version: 13",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_the_handshake_answers_with_the_rfc_accept_key() -> None:
    upgrade = ws.parse_upgrade(request("X-Country: se"))
    assert (upgrade.path, upgrade.query) == ("/ws/streams/abc", "token=t%20x&since=3")
    assert upgrade.headers["x-country"] == "se"
    # RFC 6455 section 1.3's example key and answer
    assert ws.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    response = ws.handshake_response(upgrade.key)
    assert response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert f"Sec-WebSocket-Accept: {ws.accept_key(KEY)}".encode() in response


@pytest.mark.parametrize(
    ("raw", "status", "why"),
    [
        (b"POST / HTTP/1.1\r\n\r\n", 400, "GET"),
        (b"nonsense\r\n\r\n", 400, "request line"),
        (request().replace(b"Upgrade: websocket", b"Upgrade: h2c"), 400, "Upgrade"),
        (request().replace(b"Version: 13", b"Version: 8"), 426, "version 13"),
        (request().replace(KEY.encode(), b"c2hvcnQ="), 400, "16 bytes"),
        (request("bad header line"), 400, "header"),
        (b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * ws.MAX_REQUEST_BYTES + b"\r\n", 431, "large"),
    ],
)
def test_bad_upgrade_requests_are_refused_with_a_reason(raw: bytes, status: int, why: str) -> None:
    with pytest.raises(ws.HandshakeError) as refused:
        ws.parse_upgrade(raw)
    assert refused.value.status == status
    assert why in refused.value.reason
    assert ws.refusal_response(status, "x").startswith(f"HTTP/1.1 {status} ".encode())


def test_messages_arrive_whole_in_any_chunking() -> None:
    data = (
        client_frame(ws.OP_TEXT, "héllo".encode())
        + client_frame(ws.OP_PING, b"p")
        + client_frame(ws.OP_TEXT, b"frag", fin=False)
        + client_frame(ws.OP_PONG, b"")  # control frames may come between fragments
        + client_frame(ws.OP_CONTINUATION, b"mented", fin=False)
        + client_frame(ws.OP_CONTINUATION, b"!")
        + client_frame(ws.OP_BINARY, bytes(300))
        + client_frame(ws.OP_TEXT, b"x" * 70_000)
        + client_frame(ws.OP_CLOSE, struct.pack("!H", 1000) + b"bye")
        + client_frame(ws.OP_TEXT, b"after the close: ignored")
    )
    expected = [
        ws.Message(text="héllo"),
        ws.Ping(b"p"),
        ws.Pong(b""),
        ws.Message(text="fragmented!"),
        ws.Message(data=bytes(300)),
        ws.Message(text="x" * 70_000),
        ws.Close(1000, "bye"),
    ]
    for size in (1, 7, 4096, len(data)):
        reader = ws.FrameReader(max_message=100_000)
        events = []
        for start in range(0, len(data), size):
            events += reader.receive(data[start : start + size])
        assert events == expected
        assert reader.closed


@pytest.mark.parametrize(
    ("data", "code", "why"),
    [
        (client_frame(ws.OP_TEXT, b"hi", mask=None), 1002, "masked"),
        (bytes([0xC1, 0x80]) + b"\0\0\0\0", 1002, "reserved"),
        (client_frame(0x3, b""), 1002, "opcode"),
        (client_frame(ws.OP_PING, b"", fin=False), 1002, "control"),
        (client_frame(ws.OP_PING, bytes(126)), 1002, "control"),
        (client_frame(ws.OP_CONTINUATION, b"x"), 1002, "continuation"),
        (
            client_frame(ws.OP_TEXT, b"a", fin=False) + client_frame(ws.OP_TEXT, b"b"),
            1002,
            "before the last",
        ),
        (client_frame(ws.OP_TEXT, b"\xff\xfe"), 1007, "UTF-8"),
        (client_frame(ws.OP_CLOSE, b"\x03"), 1002, "two bytes"),
        (client_frame(ws.OP_CLOSE, struct.pack("!H", 1005)), 1002, "1005"),
        (client_frame(ws.OP_CLOSE, struct.pack("!H", 1000) + b"\xff"), 1007, "UTF-8"),
        (bytes([0x81, 0xFF]) + struct.pack("!Q", 1 << 62), 1009, "limited"),
        (
            client_frame(ws.OP_TEXT, bytes(40), fin=False)
            + client_frame(ws.OP_CONTINUATION, bytes(40)),
            1009,
            "limited",
        ),
    ],
)
def test_a_broken_frame_names_its_close_code(data: bytes, code: int, why: str) -> None:
    reader = ws.FrameReader(max_message=64)
    with pytest.raises(ws.WebSocketError) as broken:
        reader.receive(data)
    assert broken.value.code == code
    assert why in broken.value.reason


def test_a_close_without_a_code_reads_as_1005() -> None:
    assert ws.FrameReader().receive(client_frame(ws.OP_CLOSE, b"")) == [ws.Close(1005, "")]


def test_server_frames_are_unmasked_with_the_shortest_length() -> None:
    assert ws.text_frame("hi") == b"\x81\x02hi"
    assert ws.frame(ws.OP_BINARY, bytes(200))[:4] == b"\x82\x7e\x00\xc8"
    assert ws.frame(ws.OP_TEXT, bytes(70_000))[:10] == b"\x81\x7f" + struct.pack("!Q", 70_000)
    assert ws.close_frame(1001, "going") == b"\x88\x07\x03\xe9going"
    assert len(ws.close_frame(1000, "x" * 500)) == 2 + 125  # a control frame stays short


@given(st.binary(max_size=2048), st.integers(min_value=1, max_value=64))
@settings(max_examples=400, deadline=None)
def test_any_bytes_give_events_or_a_close_code(data: bytes, chunk: int) -> None:
    reader = ws.FrameReader(max_message=1024)
    events: list[ws.Event] = []
    code = None
    try:
        for start in range(0, len(data), chunk):
            events += reader.receive(data[start : start + chunk])
    except ws.WebSocketError as exc:
        code = exc.code
    assert code in (None, 1002, 1007, 1009)
    assert all(isinstance(e, ws.Message | ws.Ping | ws.Pong | ws.Close) for e in events)


@given(
    st.lists(
        st.tuples(st.sampled_from([ws.OP_TEXT, ws.OP_BINARY]), st.binary(max_size=300)),
        max_size=8,
    ),
    st.binary(min_size=4, max_size=4),
)
@settings(max_examples=200, deadline=None)
def test_what_a_client_frames_is_what_the_reader_reads(
    messages: list[tuple[int, bytes]], mask: bytes
) -> None:
    wanted = []
    data = b""
    for opcode, payload in messages:
        if opcode == ws.OP_TEXT:
            payload = payload.decode("utf-8", "replace").encode()
            wanted.append(ws.Message(text=payload.decode()))
        else:
            wanted.append(ws.Message(data=payload))
        data += client_frame(opcode, payload, mask=mask)
    assert ws.FrameReader().receive(data) == wanted


def test_unmasking_is_the_xor_of_the_repeated_key() -> None:
    payload, key = os.urandom(1001), os.urandom(4)
    expected = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    assert ws.unmask(payload, key) == expected
