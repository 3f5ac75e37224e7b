"""RTMP chunk stream: hand-built chunks for every header form, the writer's header choices,
limits, and Hypothesis round-trips over arbitrary messages, chunk sizes and split points."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livecast.errors import ProtocolError
from livecast.protocols.rtmp.chunk import ChunkReader, ChunkWriter, Message


def basic(fmt: int, csid: int) -> bytes:
    if csid < 64:
        return bytes((fmt << 6 | csid,))
    if csid < 320:
        return bytes((fmt << 6, csid - 64))
    return bytes((fmt << 6 | 1, (csid - 64) & 0xFF, (csid - 64) >> 8))


def u24(value: int) -> bytes:
    return value.to_bytes(3, "big")


def type0(csid: int, ts: int, length: int, type_id: int, stream_id: int = 1) -> bytes:
    field = min(ts, 0xFFFFFF)
    header = basic(0, csid) + u24(field) + u24(length) + bytes((type_id,))
    header += struct.pack("<I", stream_id)
    return header + (struct.pack(">I", ts) if field == 0xFFFFFF else b"")


def type1(csid: int, delta: int, length: int, type_id: int) -> bytes:
    field = min(delta, 0xFFFFFF)
    header = basic(1, csid) + u24(field) + u24(length) + bytes((type_id,))
    return header + (struct.pack(">I", delta) if field == 0xFFFFFF else b"")


def type2(csid: int, delta: int) -> bytes:
    field = min(delta, 0xFFFFFF)
    header = basic(2, csid) + u24(field)
    return header + (struct.pack(">I", delta) if field == 0xFFFFFF else b"")


def parse(data: bytes, *, chunk_size: int = 128, step: int = 0) -> list[Message]:
    reader = ChunkReader()
    reader.chunk_size = chunk_size
    for offset in range(0, len(data), step or len(data) or 1):
        reader.receive_data(data[offset : offset + (step or len(data))])
    return reader.messages_received()


def timestamps(messages: list[Message]) -> list[int]:
    return [message.timestamp for message in messages]


@pytest.mark.parametrize("csid", [2, 63, 64, 319, 320, 65599])
def test_basic_header_forms(csid: int) -> None:
    data = type0(csid, 5, 3, 9) + b"abc"
    assert parse(data) == [Message(9, 1, 5, b"abc")]


def test_header_types_accumulate_deltas() -> None:
    data = (
        type0(4, 1000, 2, 8)
        + b"a0"
        + type1(4, 20, 3, 8)
        + b"a1x"
        + type2(4, 30)
        + b"a2x"
        + basic(3, 4)  # new message: same length, type and delta 30
        + b"a3x"
        + basic(3, 4)
        + b"a4x"
    )
    messages = parse(data)
    assert timestamps(messages) == [1000, 1020, 1050, 1080, 1110]
    assert [m.payload for m in messages] == [b"a0", b"a1x", b"a2x", b"a3x", b"a4x"]


def test_type3_new_message_after_type0_adds_the_timestamp_field_as_ffmpeg_does() -> None:
    data = type0(4, 40, 1, 8) + b"a" + basic(3, 4) + b"b"
    assert timestamps(parse(data)) == [40, 80]


def test_message_split_over_chunks_with_type3_continuations() -> None:
    payload = bytes(range(250))
    data = type0(6, 7, 250, 9) + payload[:128] + basic(3, 6) + payload[128:]
    assert parse(data) == [Message(9, 1, 7, payload)]


def test_extended_timestamp_on_type0_and_repeated_on_continuation_chunks() -> None:
    ts = 0x01000000 + 5
    payload = bytes(300)
    repeat = struct.pack(">I", ts)
    data = (
        type0(6, ts, 300, 9)
        + payload[:128]
        + basic(3, 6)
        + repeat
        + payload[128:256]
        + basic(3, 6)
        + repeat
        + payload[256:]
    )
    assert parse(data) == [Message(9, 1, ts, payload)]


def test_extended_timestamp_omitted_on_continuation_chunks_is_tolerated() -> None:
    ts = 0xFFFFFFF0
    payload = b"\x01" * 200
    data = type0(6, ts, 200, 9) + payload[:128] + basic(3, 6) + payload[128:]
    assert parse(data) == [Message(9, 1, ts, payload)]


def test_extended_delta_on_type1_type2_and_type3_new_message() -> None:
    delta = 0x01234567
    data = (
        type0(4, 10, 1, 8)
        + b"a"
        + type1(4, delta, 1, 8)
        + b"b"
        + type2(4, delta)
        + b"c"
        + basic(3, 4)  # new message: the extended delta is sent again
        + struct.pack(">I", delta)
        + b"d"
    )
    assert timestamps(parse(data)) == [10, 10 + delta, 10 + 2 * delta, 10 + 3 * delta]


def test_timestamps_wrap_at_32_bits() -> None:
    data = type0(4, 0xFFFFFFF0, 1, 8) + b"a" + type2(4, 0x20) + b"b"
    assert timestamps(parse(data)) == [0xFFFFFFF0, 0x10]


def test_interleaved_chunk_streams() -> None:
    video = bytes(200)
    data = type0(6, 0, 200, 9) + video[:128] + type0(4, 3, 2, 8) + b"au" + basic(3, 6) + video[128:]
    assert parse(data) == [Message(8, 1, 3, b"au"), Message(9, 1, 0, video)]


def test_zero_length_message() -> None:
    assert parse(type0(3, 0, 0, 20)) == [Message(20, 1, 0, b"")]


def test_set_chunk_size_applies_to_the_next_chunk_in_the_same_read() -> None:
    payload = bytes(range(200))
    data = type0(2, 0, 4, 1, 0) + struct.pack(">I", 300) + type0(6, 0, 200, 9) + payload
    messages = parse(data)
    assert messages[0] == Message(1, 0, 0, struct.pack(">I", 300))
    assert messages[1].payload == payload


@pytest.mark.parametrize("size", [0, 0x80000000, 0x7FFFFFFF, 16 * 1024 * 1024 + 1])
def test_set_chunk_size_out_of_range_is_refused(size: int) -> None:
    with pytest.raises(ProtocolError, match="Set Chunk Size"):
        parse(type0(2, 0, 4, 1, 0) + struct.pack(">I", size))


def test_abort_discards_the_partial_message() -> None:
    data = (
        type0(6, 0, 200, 9)
        + bytes(128)
        + type0(2, 0, 4, 2, 0)
        + struct.pack(">I", 6)
        + type0(6, 9, 2, 9)
        + b"ok"
    )
    messages = parse(data)
    assert [m.type_id for m in messages] == [2, 9]
    assert messages[1] == Message(9, 1, 9, b"ok")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (type1(5, 0, 1, 8) + b"a", "starts with a type 1 header"),
        (basic(3, 5), "starts with a type 3 header"),
        (type0(6, 0, 200, 9) + bytes(128) + type2(6, 1), "interrupts an unfinished message"),
        (type0(2, 0, 3, 1, 0) + b"abc", "shorter than 4 bytes"),
    ],
)
def test_malformed_chunk_streams(data: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        parse(data)


def test_limits_on_message_size_chunk_streams_and_buffered_bytes() -> None:
    with pytest.raises(ProtocolError, match="message of 1001 bytes exceeds 1000"):
        ChunkReader(max_message_size=1000).receive_data(type0(6, 0, 1001, 9))
    reader = ChunkReader(max_chunk_streams=3)
    with pytest.raises(ProtocolError, match="more than 3 chunk streams"):
        reader.receive_data(b"".join(type0(csid, 0, 0, 8) for csid in range(2, 6)))
    with pytest.raises(ProtocolError, match="already failed"):
        reader.receive_data(b"")
    reader = ChunkReader(max_buffered=1000)
    with pytest.raises(ProtocolError, match="buffer limit"):
        reader.receive_data(type0(4, 0, 600, 8) + bytes(128) + type0(5, 0, 600, 8))


def test_unfinished_messages_do_not_keep_the_callers_buffer() -> None:
    reader = ChunkReader()
    buffer = bytearray(type0(6, 0, 4, 9) + b"ab")
    reader.receive_data(buffer)
    buffer[-2:] = b"XX"  # a caller reusing its read buffer
    reader.receive_data(b"cd")
    assert reader.messages_received() == [Message(9, 1, 0, b"abcd")]


# -- writer -------------------------------------------------------------------------------------


def test_writer_compresses_headers() -> None:
    writer = ChunkWriter()
    first = writer.write(6, Message(9, 1, 1000, b"aa"))
    assert first[:1] == basic(0, 6)
    assert len(first) == 12 + 2
    second = writer.write(6, Message(9, 1, 1033, b"bbb"))
    assert second == type1(6, 33, 3, 9) + b"bbb"
    third = writer.write(6, Message(9, 1, 1073, b"ccc"))
    assert third == type2(6, 40) + b"ccc"
    fourth = writer.write(6, Message(9, 1, 1113, b"ddd"))
    assert fourth == basic(3, 6) + b"ddd"  # same length, type and delta
    backwards = writer.write(6, Message(9, 1, 1000, b"eee"))
    assert backwards == type0(6, 1000, 3, 9) + b"eee"
    other_stream = writer.write(6, Message(9, 2, 1000, b"eee"))
    assert other_stream == type0(6, 1000, 3, 9, stream_id=2) + b"eee"


def test_writer_never_sends_type3_right_after_type0() -> None:
    writer = ChunkWriter()
    writer.write(4, Message(8, 1, 40, b"a"))
    assert writer.write(4, Message(8, 1, 80, b"b"))[:1] == basic(2, 4)


def test_writer_repeats_extended_timestamp_on_continuation_chunks() -> None:
    writer = ChunkWriter(chunk_size=2)
    ts = 0x01000000
    data = writer.write(7, Message(9, 1, ts, b"abcde"))
    repeat = basic(3, 7) + struct.pack(">I", ts)
    assert data == type0(7, ts, 5, 9) + b"ab" + repeat + b"cd" + repeat + b"e"
    assert parse(data, chunk_size=2) == [Message(9, 1, ts, b"abcde")]


@pytest.mark.parametrize(
    ("csid", "message", "reason"),
    [
        (1, Message(8, 1, 0, b""), "chunk stream id"),
        (65600, Message(8, 1, 0, b""), "chunk stream id"),
        (4, Message(8, 1, -1, b""), "32-bit"),
        (4, Message(8, 1, 2**32, b""), "32-bit"),
        (4, Message(8, 1, 0, bytes(0x1000000)), "24-bit"),
    ],
)
def test_writer_refuses_what_the_wire_cannot_carry(
    csid: int, message: Message, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        ChunkWriter().write(csid, message)
    with pytest.raises(ValueError, match="chunk size"):
        ChunkWriter(0)


# -- properties ---------------------------------------------------------------------------------

chunk_stream_ids = st.sampled_from([2, 3, 4, 63, 64, 319, 320, 65599])
near_extended = st.sampled_from([0, 1, 0xFFFFFE, 0xFFFFFF, 0x1000000, 0xFFFFFFFF])
timestamps_32 = st.one_of(near_extended, st.integers(0, 2**32 - 1))
deltas = st.one_of(st.sampled_from([0, 0, 23, 33]), near_extended, st.integers(0, 2**32 - 1))


@st.composite
def message_lists(draw: st.DrawFn) -> list[tuple[int, Message]]:
    """Messages on a few chunk streams, often with repeating sizes and deltas so that every
    header type (and type 3 new messages with extended deltas) is exercised."""
    items: list[tuple[int, Message]] = []
    last: dict[int, Message] = {}
    for _ in range(draw(st.integers(1, 12))):
        csid = draw(chunk_stream_ids)
        previous = last.get(csid)
        if previous is not None and draw(st.booleans()):
            ts = (previous.timestamp + draw(deltas)) & 0xFFFFFFFF
            payload = draw(st.sampled_from([previous.payload, b"", bytes(300)]))
            message = Message(previous.type_id, previous.stream_id, ts, payload)
        else:
            message = Message(
                draw(st.sampled_from([8, 9, 18, 20])),
                draw(st.sampled_from([0, 1, 2**32 - 1])),
                draw(timestamps_32),
                draw(st.binary(max_size=400)),
            )
        items.append((csid, message))
        last[csid] = message
    return items


@settings(max_examples=200, deadline=None)
@given(message_lists(), st.integers(1, 300), st.lists(st.integers(1, 500), max_size=40))
def test_parse_inverts_write(
    items: list[tuple[int, Message]], chunk_size: int, splits: list[int]
) -> None:
    writer = ChunkWriter(chunk_size)
    data = b"".join(writer.write(csid, message) for csid, message in items)
    reader = ChunkReader()
    reader.chunk_size = chunk_size
    offset = 0
    received: list[Message] = []
    for size in [*splits, len(data)]:
        reader.receive_data(data[offset : offset + size])
        received += reader.messages_received()
        offset += size
    assert received == [message for _, message in items]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.integers(1, 64))
def test_arbitrary_bytes_only_raise_protocol_error(data: bytes, step: int) -> None:
    reader = ChunkReader(max_message_size=4096, max_buffered=8192)
    try:
        for offset in range(0, len(data), step):
            reader.receive_data(data[offset : offset + step])
    except ProtocolError:
        pass
