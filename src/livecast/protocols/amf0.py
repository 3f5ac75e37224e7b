"""AMF0, the Action Message Format RTMP commands and metadata are written in.

Python mapping (``decode(encode(x)) == x`` holds for every value below):

==================  =====================================================
AMF0 type           Python
==================  =====================================================
number              ``float`` (``int`` is accepted when encoding)
boolean             ``bool``
string, long string ``str`` (the encoder picks by UTF-8 length)
object              ``dict[str, Value]``
typed object        :class:`TypedObject` (a ``dict`` with a ``class_name``)
ECMA array          :class:`EcmaArray` (a ``dict``)
strict array        ``list``
null                ``None``
undefined           :data:`Undefined`
date                :class:`Date` (milliseconds kept as the exact double)
XML document        :class:`XmlDocument` (a ``str``)
==================  =====================================================

References (marker 0x07) are resolved on decoding, the encoder never writes them. The decoder
bounds nesting depth and the number of values (counting what references expand to), so a hostile
peer cannot exhaust the stack or memory; every malformed input raises
:class:`~livecast.errors.ProtocolError`.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, TypeAlias, Union

from livecast.errors import ProtocolError

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_VALUES",
    "Date",
    "EcmaArray",
    "Marker",
    "TypedObject",
    "Undefined",
    "UndefinedType",
    "Value",
    "XmlDocument",
    "decode",
    "encode",
]

DEFAULT_MAX_DEPTH: Final = 64
DEFAULT_MAX_VALUES: Final = 100_000


class Marker(enum.IntEnum):
    """Type markers of the AMF0 specification, section 2.1."""

    NUMBER = 0x00
    BOOLEAN = 0x01
    STRING = 0x02
    OBJECT = 0x03
    MOVIECLIP = 0x04  # reserved, not supported
    NULL = 0x05
    UNDEFINED = 0x06
    REFERENCE = 0x07
    ECMA_ARRAY = 0x08
    OBJECT_END = 0x09
    STRICT_ARRAY = 0x0A
    DATE = 0x0B
    LONG_STRING = 0x0C
    UNSUPPORTED = 0x0D
    RECORDSET = 0x0E  # reserved, not supported
    XML_DOCUMENT = 0x0F
    TYPED_OBJECT = 0x10
    AVMPLUS_OBJECT = 0x11  # switch to AMF3


class UndefinedType(enum.Enum):
    """Type of :data:`Undefined`; an enum so that it is a typed singleton."""

    UNDEFINED = "undefined"

    def __repr__(self) -> str:
        return "Undefined"


Undefined: Final = UndefinedType.UNDEFINED
"""The AMF0 ``undefined`` value (distinct from ``null``, which is ``None``)."""


@dataclass(frozen=True, slots=True)
class Date:
    """An AMF0 date: milliseconds since the Unix epoch (UTC) as the exact double on the wire.

    ``timezone`` is the signed 16-bit minutes field the spec reserves (senders should write 0).
    """

    milliseconds: float
    timezone: int = 0

    @classmethod
    def from_datetime(cls, value: datetime) -> Date:
        """The date of an aware ``datetime`` (a naive one is taken as UTC)."""
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        delta = value - datetime(1970, 1, 1, tzinfo=UTC)
        return cls(delta // timedelta(microseconds=1) / 1000)

    def to_datetime(self) -> datetime:
        """The UTC ``datetime`` of this date (rounded to the microsecond)."""
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=self.milliseconds)


class EcmaArray(dict[str, "Value"]):
    """An AMF0 ECMA (associative) array; ``onMetaData`` is usually one."""

    __slots__ = ()


class TypedObject(dict[str, "Value"]):
    """An AMF0 typed object: an object with the name of its class."""

    __slots__ = ("class_name",)

    def __init__(self, class_name: str, *args: dict[str, Value]) -> None:
        super().__init__(*args)
        self.class_name = class_name

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TypedObject):
            return self.class_name == other.class_name and dict.__eq__(self, other)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __repr__(self) -> str:
        return f"TypedObject({self.class_name!r}, {dict.__repr__(self)})"


class XmlDocument(str):
    """An AMF0 XML document (kept as its text)."""

    __slots__ = ()


# Union[...] because a recursive alias needs its forward references quoted.
Value: TypeAlias = Union[
    float,
    bool,
    str,
    UndefinedType,
    Date,
    "dict[str, Value]",
    "list[Value]",
    None,
]

_DOUBLE = struct.Struct(">d")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_DATE = struct.Struct(">dh")
_OBJECT_END = b"\x00\x00\x09"


# -- encoding ------------------------------------------------------------------------------------


def encode(*values: Value) -> bytes:
    """The AMF0 encoding of ``values``, one after the other (as in a command message).

    Raises ``TypeError`` for a value with no AMF0 form and ``ValueError`` for one that does not
    fit (a key longer than 65535 bytes, nesting deeper than :data:`DEFAULT_MAX_DEPTH`).
    """
    out = bytearray()
    for value in values:
        _encode_value(out, value, 0)
    return bytes(out)


def _encode_value(out: bytearray, value: Value, depth: int) -> None:
    if depth > DEFAULT_MAX_DEPTH:
        raise ValueError("AMF0 value nested too deeply (cyclic?)")
    if value is None:
        out.append(Marker.NULL)
    elif value is Undefined:
        out.append(Marker.UNDEFINED)
    elif isinstance(value, bool):
        out += bytes((Marker.BOOLEAN, value))
    elif isinstance(value, int | float):
        out.append(Marker.NUMBER)
        out += _DOUBLE.pack(value)
    elif isinstance(value, XmlDocument):
        out.append(Marker.XML_DOCUMENT)
        _encode_long_utf8(out, value)
    elif isinstance(value, str):
        _encode_string(out, value)
    elif isinstance(value, Date):
        out.append(Marker.DATE)
        out += _DATE.pack(value.milliseconds, value.timezone)
    elif isinstance(value, dict):
        _encode_mapping(out, value, depth)
    elif isinstance(value, list | tuple):
        out.append(Marker.STRICT_ARRAY)
        out += _U32.pack(len(value))
        for item in value:
            _encode_value(out, item, depth + 1)
    else:
        raise TypeError(f"no AMF0 encoding for {type(value).__name__}")


def _encode_string(out: bytearray, value: str) -> None:
    raw = _utf8(value)
    if len(raw) <= 0xFFFF:
        out.append(Marker.STRING)
        out += _U16.pack(len(raw))
    else:
        out.append(Marker.LONG_STRING)
        out += _U32.pack(len(raw))
    out += raw


def _encode_long_utf8(out: bytearray, value: str) -> None:
    raw = _utf8(value)
    out += _U32.pack(len(raw))
    out += raw


def _encode_mapping(out: bytearray, value: dict[str, Value], depth: int) -> None:
    if isinstance(value, EcmaArray):
        out.append(Marker.ECMA_ARRAY)
        out += _U32.pack(len(value))
    elif isinstance(value, TypedObject):
        out.append(Marker.TYPED_OBJECT)
        _encode_key(out, value.class_name)
    else:
        out.append(Marker.OBJECT)
    for key, item in value.items():
        if not isinstance(key, str):
            raise TypeError(f"AMF0 object keys are strings, not {type(key).__name__}")
        _encode_key(out, key)
        _encode_value(out, item, depth + 1)
    out += _OBJECT_END


def _encode_key(out: bytearray, key: str) -> None:
    raw = _utf8(key)
    if len(raw) > 0xFFFF:
        raise ValueError("AMF0 object key longer than 65535 bytes")
    out += _U16.pack(len(raw))
    out += raw


def _utf8(value: str) -> bytes:
    try:
        return value.encode()
    except UnicodeEncodeError as exc:
        raise ValueError(f"string is not encodable as UTF-8: {exc}") from exc


# -- decoding ------------------------------------------------------------------------------------


def decode(
    data: bytes | bytearray | memoryview,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_values: int = DEFAULT_MAX_VALUES,
) -> list[Value]:
    """Every AMF0 value in ``data``, in order. Raises ``ProtocolError`` on malformed input."""
    decoder = _Decoder(bytes(data), max_depth, max_values)
    values: list[Value] = []
    while decoder.pos < len(decoder.data):
        values.append(decoder.value(0))
    return values


class _Decoder:
    """Recursive-descent decoder with the limits and the reference table of one message."""

    __slots__ = ("budget", "data", "max_depth", "pos", "refs")

    def __init__(self, data: bytes, max_depth: int, max_values: int) -> None:
        self.data = data
        self.pos = 0
        self.max_depth = max_depth
        self.budget = max_values
        # Complex values in the order they started, with their size in values once complete
        # (None while still being decoded, so that a reference to an ancestor is refused).
        self.refs: list[tuple[Value, int | None]] = []

    def take(self, size: int) -> bytes:
        start = self.pos
        end = start + size
        if end > len(self.data):
            raise ProtocolError(f"AMF0 value truncated at offset {start}")
        self.pos = end
        return self.data[start:end]

    def unpack(self, fmt: struct.Struct) -> tuple[float | int, ...]:
        start = self.pos
        if start + fmt.size > len(self.data):
            raise ProtocolError(f"AMF0 value truncated at offset {start}")
        self.pos = start + fmt.size
        return fmt.unpack_from(self.data, start)

    def u16(self) -> int:
        return int(self.unpack(_U16)[0])

    def u32(self) -> int:
        return int(self.unpack(_U32)[0])

    def text(self, size: int) -> str:
        # Lossy rather than fatal: encoders have been seen writing Latin-1 into metadata.
        return self.take(size).decode("utf-8", errors="replace")

    def count(self, values: int) -> None:
        self.budget -= values
        if self.budget < 0:
            raise ProtocolError("AMF0 message holds too many values")

    def value(self, depth: int) -> Value:
        self.count(1)
        marker = self.take(1)[0]
        if marker == Marker.NUMBER:
            return float(self.unpack(_DOUBLE)[0])
        if marker == Marker.BOOLEAN:
            return self.take(1)[0] != 0
        if marker == Marker.STRING:
            return self.text(self.u16())
        if marker == Marker.NULL:
            return None
        if marker in (Marker.UNDEFINED, Marker.UNSUPPORTED):
            return Undefined
        if marker == Marker.LONG_STRING:
            return self.text(self.u32())
        if marker == Marker.XML_DOCUMENT:
            return XmlDocument(self.text(self.u32()))
        if marker == Marker.DATE:
            milliseconds, timezone = self.unpack(_DATE)
            return Date(float(milliseconds), int(timezone))
        if marker == Marker.REFERENCE:
            return self.reference()
        if marker in (Marker.OBJECT, Marker.ECMA_ARRAY, Marker.TYPED_OBJECT, Marker.STRICT_ARRAY):
            return self.complex(marker, depth + 1)
        if marker == Marker.OBJECT_END:
            raise ProtocolError("AMF0 object-end marker outside an object")
        if marker == Marker.AVMPLUS_OBJECT:
            raise ProtocolError("AMF3 values inside AMF0 are not supported")
        raise ProtocolError(f"unsupported AMF0 marker 0x{marker:02x}")

    def complex(self, marker: int, depth: int) -> Value:
        if depth > self.max_depth:
            raise ProtocolError("AMF0 value nested too deeply")
        index = len(self.refs)
        self.refs.append((None, None))
        before = self.budget
        result: Value
        if marker == Marker.STRICT_ARRAY:
            result = self.strict_array(depth)
        elif marker == Marker.ECMA_ARRAY:
            declared = self.u32()
            result = self.properties(EcmaArray(), depth, declared)
        elif marker == Marker.TYPED_OBJECT:
            result = self.properties(TypedObject(self.text(self.u16())), depth, None)
        else:
            result = self.properties({}, depth, None)
        self.refs[index] = (result, before - self.budget)
        return result

    def strict_array(self, depth: int) -> list[Value]:
        length = self.u32()
        if length > len(self.data) - self.pos:  # every value takes at least one byte
            raise ProtocolError("AMF0 strict array longer than its message")
        return [self.value(depth) for _ in range(length)]

    def properties(
        self, target: dict[str, Value], depth: int, declared: int | None
    ) -> dict[str, Value]:
        data = self.data
        while True:
            if declared is not None and self.pos == len(data) and len(target) >= declared:
                return target  # some encoders end an ECMA array without the end marker
            key = self.text(self.u16())
            if not key and self.pos < len(data) and data[self.pos] == Marker.OBJECT_END:
                self.pos += 1
                return target
            target[key] = self.value(depth)

    def reference(self) -> Value:
        index = self.u16()
        if index >= len(self.refs):
            raise ProtocolError(f"AMF0 reference {index} to an unknown object")
        value, size = self.refs[index]
        if size is None:
            raise ProtocolError("AMF0 reference to an object that contains it")
        self.count(size)  # a shared object costs what walking it costs
        return value
