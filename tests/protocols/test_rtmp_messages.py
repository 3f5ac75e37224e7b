"""RTMP message payloads: protocol control messages, commands, data and aggregates."""

from __future__ import annotations

import struct

import pytest

from livecast.errors import ProtocolError
from livecast.protocols import amf0
from livecast.protocols.rtmp.chunk import Message
from livecast.protocols.rtmp.messages import (
    Abort,
    Acknowledgement,
    Command,
    DataMessage,
    LimitType,
    SetChunkSize,
    SetPeerBandwidth,
    UserControl,
    UserControlEvent,
    WindowAcknowledgementSize,
    split_aggregate,
)

Control = (
    SetChunkSize
    | Abort
    | Acknowledgement
    | WindowAcknowledgementSize
    | SetPeerBandwidth
    | UserControl
)


@pytest.mark.parametrize(
    ("control", "type_id", "payload"),
    [
        (SetChunkSize(4096), 1, struct.pack(">I", 4096)),
        (Abort(6), 2, struct.pack(">I", 6)),
        (Acknowledgement(2**32 - 1), 3, struct.pack(">I", 2**32 - 1)),
        (WindowAcknowledgementSize(2_500_000), 5, struct.pack(">I", 2_500_000)),
        (SetPeerBandwidth(5_000_000, LimitType.SOFT), 6, struct.pack(">IB", 5_000_000, 1)),
        (UserControl(UserControlEvent.STREAM_BEGIN, 1), 4, struct.pack(">HI", 0, 1)),
        (UserControl(UserControlEvent.PING_REQUEST, 99), 4, struct.pack(">HI", 6, 99)),
        (
            UserControl(UserControlEvent.SET_BUFFER_LENGTH, 1, 3000),
            4,
            struct.pack(">HII", 3, 1, 3000),
        ),
    ],
)
def test_control_messages_round_trip(control: Control, type_id: int, payload: bytes) -> None:
    message = control.to_message()
    assert message == Message(type_id, 0, 0, payload)
    assert type(control).parse(payload) == control


def test_set_chunk_size_ignores_the_reserved_top_bit() -> None:
    assert SetChunkSize.parse(struct.pack(">I", 0x80000080)) == SetChunkSize(128)


@pytest.mark.parametrize(
    ("parse", "payload", "reason"),
    [
        (SetChunkSize.parse, b"\x00", "shorter than 4"),
        (Acknowledgement.parse, b"", "shorter than 4"),
        (SetPeerBandwidth.parse, bytes(4), "shorter than 5"),
        (UserControl.parse, b"\x00", "shorter than 2"),
        (UserControl.parse, struct.pack(">HI", 3, 1), "shorter than 10"),
    ],
)
def test_short_control_messages_are_refused(parse: object, payload: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        parse(payload)  # type: ignore[operator]


def test_unknown_user_control_event_is_kept_with_whatever_it_carries() -> None:
    assert UserControl.parse(b"\x00\x1f\x01") == UserControl(0x1F)


def test_command_round_trip_and_defaults() -> None:
    command = Command("publish", 5.0, None, ["key", "live"])
    message = command.to_message(stream_id=1)
    assert (message.type_id, message.stream_id) == (20, 1)
    assert Command.parse(message.payload) == command
    assert Command.parse(amf0.encode("onBWDone")) == Command("onBWDone", 0.0)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "without a command name"),
        (amf0.encode(1.0), "without a command name"),
        (amf0.encode("connect", "one"), "non-numeric transaction id"),
        (amf0.encode("connect", True), "non-numeric transaction id"),
    ],
)
def test_malformed_commands(payload: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        Command.parse(payload)


def test_amf3_messages_drop_the_format_byte() -> None:
    payload = b"\x00" + amf0.encode("play", 2.0, None, "show")
    assert Command.parse(payload, amf3=True) == Command("play", 2.0, None, ["show"])
    data = b"\x00" + amf0.encode("onTextData", {"text": "hi"})
    assert DataMessage.parse(data, amf3=True) == DataMessage("onTextData", [{"text": "hi"}])


def test_data_message_round_trip_and_nameless_data() -> None:
    data = DataMessage("@setDataFrame", ["onMetaData", amf0.EcmaArray(width=1.0)])
    message = data.to_message(stream_id=1, timestamp=40)
    assert (message.type_id, message.stream_id, message.timestamp) == (18, 1, 40)
    assert DataMessage.parse(message.payload) == data
    assert DataMessage.parse(amf0.encode(1.0, None)) == DataMessage("", [1.0, None])


def aggregate_tag(type_id: int, ts: int, body: bytes) -> bytes:
    header = bytes((type_id,)) + len(body).to_bytes(3, "big")
    header += (ts & 0xFFFFFF).to_bytes(3, "big") + bytes((ts >> 24,)) + bytes(3)
    return header + body + (11 + len(body)).to_bytes(4, "big")


def test_aggregate_sub_messages_are_rebased_on_the_aggregate_timestamp() -> None:
    payload = aggregate_tag(9, 0x01000000, b"v") + aggregate_tag(8, 0x01000010, b"a")
    parts = split_aggregate(Message(22, 1, 0xFFFFFFFF, payload))
    assert parts == [Message(9, 1, 0xFFFFFFFF, b"v"), Message(8, 1, 0x0F, b"a")]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (bytes(5), "inside a sub-message header"),
        (aggregate_tag(9, 0, b"v")[:-5], "malformed"),
        (aggregate_tag(20, 0, b"c"), "malformed"),
    ],
)
def test_malformed_aggregates(payload: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        split_aggregate(Message(22, 1, 0, payload))
