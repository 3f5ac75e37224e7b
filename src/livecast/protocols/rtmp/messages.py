"""RTMP message payloads (RTMP specification, sections 5.4, 6 and 7.1): parse and serialize.

Each message is a small frozen class with ``parse(payload)`` and ``to_message()``. Audio and
video payloads are FLV tag bodies and stay opaque here; ``protocols.flv`` reads them.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from typing import ClassVar, Final

from livecast.errors import ProtocolError
from livecast.protocols import amf0
from livecast.protocols.rtmp.chunk import TIMESTAMP_MASK, Message

__all__ = [
    "Abort",
    "Acknowledgement",
    "Command",
    "DataMessage",
    "LimitType",
    "MessageType",
    "SetChunkSize",
    "SetPeerBandwidth",
    "UserControl",
    "UserControlEvent",
    "WindowAcknowledgementSize",
    "split_aggregate",
]


class MessageType(enum.IntEnum):
    """Message type ids."""

    SET_CHUNK_SIZE = 1
    ABORT = 2
    ACKNOWLEDGEMENT = 3
    USER_CONTROL = 4
    WINDOW_ACKNOWLEDGEMENT_SIZE = 5
    SET_PEER_BANDWIDTH = 6
    AUDIO = 8
    VIDEO = 9
    DATA_AMF3 = 15
    SHARED_OBJECT_AMF3 = 16
    COMMAND_AMF3 = 17
    DATA_AMF0 = 18
    SHARED_OBJECT_AMF0 = 19
    COMMAND_AMF0 = 20
    AGGREGATE = 22


class UserControlEvent(enum.IntEnum):
    """User Control event types (section 7.1.7)."""

    STREAM_BEGIN = 0
    STREAM_EOF = 1
    STREAM_DRY = 2
    SET_BUFFER_LENGTH = 3
    STREAM_IS_RECORDED = 4
    PING_REQUEST = 6
    PING_RESPONSE = 7


class LimitType(enum.IntEnum):
    """Limit types of Set Peer Bandwidth."""

    HARD = 0
    SOFT = 1
    DYNAMIC = 2


_U32 = struct.Struct(">I")
_U16_U32 = struct.Struct(">HI")
_U32_U8 = struct.Struct(">IB")
_PROTOCOL_CONTROL_STREAM: Final = 0


def _u32(payload: bytes, what: str) -> int:
    if len(payload) < 4:
        raise ProtocolError(f"{what} message shorter than 4 bytes")
    value: int = _U32.unpack_from(payload)[0]
    return value


@dataclass(frozen=True, slots=True)
class SetChunkSize:
    """The sender's chunk size from now on (the most significant bit must be 0)."""

    type_id: ClassVar[int] = MessageType.SET_CHUNK_SIZE
    size: int

    @classmethod
    def parse(cls, payload: bytes) -> SetChunkSize:
        return cls(_u32(payload, "Set Chunk Size") & 0x7FFFFFFF)

    def to_message(self) -> Message:
        return Message(self.type_id, _PROTOCOL_CONTROL_STREAM, 0, _U32.pack(self.size))


@dataclass(frozen=True, slots=True)
class Abort:
    """Discard the partly received message of a chunk stream."""

    type_id: ClassVar[int] = MessageType.ABORT
    chunk_stream_id: int

    @classmethod
    def parse(cls, payload: bytes) -> Abort:
        return cls(_u32(payload, "Abort"))

    def to_message(self) -> Message:
        return Message(self.type_id, _PROTOCOL_CONTROL_STREAM, 0, _U32.pack(self.chunk_stream_id))


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """Bytes received so far (modulo 2**32), sent each time a window's worth has arrived."""

    type_id: ClassVar[int] = MessageType.ACKNOWLEDGEMENT
    sequence_number: int

    @classmethod
    def parse(cls, payload: bytes) -> Acknowledgement:
        return cls(_u32(payload, "Acknowledgement"))

    def to_message(self) -> Message:
        payload = _U32.pack(self.sequence_number & TIMESTAMP_MASK)
        return Message(self.type_id, _PROTOCOL_CONTROL_STREAM, 0, payload)


@dataclass(frozen=True, slots=True)
class WindowAcknowledgementSize:
    """How many bytes the sender may send before it expects an Acknowledgement."""

    type_id: ClassVar[int] = MessageType.WINDOW_ACKNOWLEDGEMENT_SIZE
    size: int

    @classmethod
    def parse(cls, payload: bytes) -> WindowAcknowledgementSize:
        return cls(_u32(payload, "Window Acknowledgement Size"))

    def to_message(self) -> Message:
        return Message(self.type_id, _PROTOCOL_CONTROL_STREAM, 0, _U32.pack(self.size))


@dataclass(frozen=True, slots=True)
class SetPeerBandwidth:
    """Limit of the receiver's output bandwidth (its window acknowledgement size)."""

    type_id: ClassVar[int] = MessageType.SET_PEER_BANDWIDTH
    size: int
    limit_type: int = LimitType.DYNAMIC

    @classmethod
    def parse(cls, payload: bytes) -> SetPeerBandwidth:
        if len(payload) < 5:
            raise ProtocolError("Set Peer Bandwidth message shorter than 5 bytes")
        size, limit_type = _U32_U8.unpack_from(payload)
        return cls(size, limit_type)

    def to_message(self) -> Message:
        payload = _U32_U8.pack(self.size, self.limit_type)
        return Message(self.type_id, _PROTOCOL_CONTROL_STREAM, 0, payload)


@dataclass(frozen=True, slots=True)
class UserControl:
    """A User Control event. ``value`` is the stream id, or the timestamp of a ping;
    ``buffer_length`` (ms) belongs to Set Buffer Length only."""

    type_id: ClassVar[int] = MessageType.USER_CONTROL
    event_type: int
    value: int = 0
    buffer_length: int | None = None

    @classmethod
    def parse(cls, payload: bytes) -> UserControl:
        if len(payload) < 2:
            raise ProtocolError("User Control message shorter than 2 bytes")
        if len(payload) < 6:  # events this server does not know may carry less
            return cls(int.from_bytes(payload[:2], "big"))
        event_type, value = _U16_U32.unpack_from(payload)
        if event_type != UserControlEvent.SET_BUFFER_LENGTH:
            return cls(event_type, value)
        if len(payload) < 10:
            raise ProtocolError("Set Buffer Length event shorter than 10 bytes")
        return cls(event_type, value, _U32.unpack_from(payload, 6)[0])

    def to_message(self) -> Message:
        payload = _U16_U32.pack(self.event_type, self.value)
        if self.buffer_length is not None:
            payload += _U32.pack(self.buffer_length)
        return Message(self.type_id, _PROTOCOL_CONTROL_STREAM, 0, payload)


def _amf0_payload(payload: bytes, amf3: bool) -> list[amf0.Value]:
    # An AMF3 command or data message starts with a format selector byte; every client seen in
    # practice writes 0 there and AMF0 after it.
    if amf3 and payload[:1] == b"\x00":
        payload = payload[1:]
    return amf0.decode(payload)


@dataclass(frozen=True, slots=True)
class Command:
    """A command message: a name, a transaction id, a command object and arguments."""

    name: str
    transaction_id: float
    command_object: amf0.Value = None
    arguments: list[amf0.Value] = field(default_factory=list)

    @classmethod
    def parse(cls, payload: bytes, *, amf3: bool = False) -> Command:
        values = _amf0_payload(payload, amf3)
        if not values or not isinstance(values[0], str):
            raise ProtocolError("command message without a command name")
        transaction_id = values[1] if len(values) > 1 else 0.0
        if not isinstance(transaction_id, float) or isinstance(transaction_id, bool):
            raise ProtocolError(f"command {values[0]!r} with a non-numeric transaction id")
        command_object = values[2] if len(values) > 2 else None
        return cls(values[0], transaction_id, command_object, values[3:])

    def to_message(self, stream_id: int = 0) -> Message:
        payload = amf0.encode(self.name, self.transaction_id, self.command_object, *self.arguments)
        return Message(MessageType.COMMAND_AMF0, stream_id, 0, payload)


@dataclass(frozen=True, slots=True)
class DataMessage:
    """A data message (``@setDataFrame``, ``onMetaData``, ``|RtmpSampleAccess``…): a handler
    name and its arguments."""

    name: str
    arguments: list[amf0.Value] = field(default_factory=list)

    @classmethod
    def parse(cls, payload: bytes, *, amf3: bool = False) -> DataMessage:
        values = _amf0_payload(payload, amf3)
        if values and isinstance(values[0], str):
            return cls(values[0], values[1:])
        return cls("", values)

    def to_message(self, stream_id: int = 0, timestamp: int = 0) -> Message:
        payload = amf0.encode(self.name, *self.arguments)
        return Message(MessageType.DATA_AMF0, stream_id, timestamp, payload)


_AGGREGATE_HEADER = struct.Struct(">B3s3sB3s")
_AGGREGATE_TYPES: Final = frozenset(
    (MessageType.AUDIO, MessageType.VIDEO, MessageType.DATA_AMF0, MessageType.DATA_AMF3)
)


def split_aggregate(message: Message) -> list[Message]:
    """The audio, video and data messages packed in an aggregate message (section 6.1.3.2).

    Sub-message timestamps are rebased so that the first one equals the aggregate's timestamp.
    """
    payload = message.payload
    messages: list[Message] = []
    pos = 0
    first: int | None = None
    while pos < len(payload):
        if len(payload) - pos < _AGGREGATE_HEADER.size:
            raise ProtocolError("aggregate message ends inside a sub-message header")
        type_id, size_raw, ts_raw, ts_high, _ = _AGGREGATE_HEADER.unpack_from(payload, pos)
        size = int.from_bytes(size_raw, "big")
        start = pos + _AGGREGATE_HEADER.size
        end = start + size
        if end > len(payload) or type_id not in _AGGREGATE_TYPES:
            raise ProtocolError("malformed aggregate sub-message")
        timestamp = int.from_bytes(ts_raw, "big") | ts_high << 24
        if first is None:
            first = timestamp
        rebased = (message.timestamp + timestamp - first) & TIMESTAMP_MASK
        messages.append(Message(type_id, message.stream_id, rebased, payload[start:end]))
        pos = end + 4  # back pointer: the previous tag's size
    return messages
