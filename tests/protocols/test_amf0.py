"""AMF0: known encodings from the specification, limits against hostile input, Hypothesis
round-trips and robustness."""

from __future__ import annotations

import contextlib
import math
import struct
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livecast.errors import ProtocolError
from livecast.protocols import amf0
from livecast.protocols.amf0 import Date, EcmaArray, TypedObject, Undefined, XmlDocument


def number(value: float) -> bytes:
    return b"\x00" + struct.pack(">d", value)


def key(name: str) -> bytes:
    return len(name).to_bytes(2, "big") + name.encode()


END = b"\x00\x00\x09"


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (1.5, number(1.5)),
        (True, b"\x01\x01"),
        (False, b"\x01\x00"),
        ("abc", b"\x02\x00\x03abc"),
        (None, b"\x05"),
        (Undefined, b"\x06"),
        ({"a": 1.0}, b"\x03" + key("a") + number(1.0) + END),
        (EcmaArray(a=None), b"\x08\x00\x00\x00\x01" + key("a") + b"\x05" + END),
        ([1.0, "x"], b"\x0a\x00\x00\x00\x02" + number(1.0) + b"\x02\x00\x01x"),
        (Date(1.5e12, -60), b"\x0b" + struct.pack(">dh", 1.5e12, -60)),
        (XmlDocument("<a/>"), b"\x0f\x00\x00\x00\x04<a/>"),
        (TypedObject("T", {"b": True}), b"\x10" + key("T") + key("b") + b"\x01\x01" + END),
    ],
)
def test_known_encoding(value: amf0.Value, encoded: bytes) -> None:
    assert amf0.encode(value) == encoded
    [decoded] = amf0.decode(encoded)
    assert decoded == value
    assert type(decoded) is type(value)


def test_long_string_is_chosen_by_utf8_length() -> None:
    text = "é" * 40000  # 80000 UTF-8 bytes
    encoded = amf0.encode(text)
    assert encoded[:5] == b"\x0c" + (80000).to_bytes(4, "big")
    assert amf0.decode(encoded) == [text]


def test_int_encodes_as_number_and_several_values_follow_each_other() -> None:
    assert amf0.encode("connect", 1, None) == b"\x02\x00\x07connect" + number(1.0) + b"\x05"
    assert amf0.decode(amf0.encode("connect", 1, None)) == ["connect", 1.0, None]


def test_undefined_and_unsupported_markers_decode_to_undefined() -> None:
    assert amf0.decode(b"\x06\x0d") == [Undefined, Undefined]
    assert repr(Undefined) == "Undefined"


def test_date_converts_to_and_from_datetime() -> None:
    moment = datetime(2024, 5, 17, 12, 30, 15, 250000, tzinfo=UTC)
    date = Date.from_datetime(moment)
    assert date.milliseconds == 1715949015250.0
    assert date.to_datetime() == moment
    assert Date.from_datetime(moment.replace(tzinfo=None)) == date


def test_typed_object_equality_includes_class_name() -> None:
    assert TypedObject("A", {"x": 1.0}) != TypedObject("B", {"x": 1.0})
    assert TypedObject("A", {"x": 1.0}) == TypedObject("A", {"x": 1.0})
    assert "TypedObject('A'" in repr(TypedObject("A"))


def test_reference_resolves_to_the_earlier_object() -> None:
    obj = b"\x03" + key("k") + number(2.0) + END
    [decoded] = amf0.decode(b"\x0a\x00\x00\x00\x02" + obj + b"\x07\x00\x01")
    assert decoded == [{"k": 2.0}, {"k": 2.0}]
    assert isinstance(decoded, list)
    assert decoded[0] is decoded[1]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x07\x00\x00", "unknown object"),
        (b"\x03" + key("self") + b"\x07\x00\x00" + END, "contains it"),
    ],
)
def test_bad_references_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        amf0.decode(data)


def test_references_cannot_amplify_beyond_the_value_limit() -> None:
    # Each array holds two references to the previous one: 2**40 values when walked.
    nested = b"\x0a\x00\x00\x00\x00" + b"".join(
        b"\x0a\x00\x00\x00\x02" + (b"\x07" + index.to_bytes(2, "big")) * 2 for index in range(40)
    )
    with pytest.raises(ProtocolError, match="too many values"):
        amf0.decode(nested)


def test_deep_nesting_is_refused_without_recursion_error() -> None:
    with pytest.raises(ProtocolError, match="nested too deeply"):
        amf0.decode(b"\x0a\x00\x00\x00\x01" * 10_000 + b"\x05")


def test_value_count_is_limited() -> None:
    data = b"\x0a" + (200_000).to_bytes(4, "big") + b"\x05" * 200_000
    with pytest.raises(ProtocolError, match="too many values"):
        amf0.decode(data)
    assert len(amf0.decode(data, max_values=300_000)[0]) == 200_000  # type: ignore[arg-type]


def test_strict_array_longer_than_its_message_is_refused_before_allocating() -> None:
    with pytest.raises(ProtocolError, match="longer than its message"):
        amf0.decode(b"\x0a\xff\xff\xff\xff\x05")


def test_ecma_array_without_end_marker_is_tolerated() -> None:
    data = b"\x08\x00\x00\x00\x01" + key("duration") + number(3.0)
    assert amf0.decode(data) == [EcmaArray(duration=3.0)]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert amf0.decode(b"\x02\x00\x02\xe9t") == ["\ufffdt"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x04", "0x04"),
        (b"\x0e", "0x0e"),
        (b"\x11\x01", "AMF3"),
        (b"\x12", "0x12"),
        (b"\x09", "object-end"),
        (b"\x00\x00", "truncated"),
        (b"\x02\x00\x05ab", "truncated"),
        (b"\x03" + key("a"), "truncated"),
    ],
)
def test_malformed_input_raises_protocol_error(data: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        amf0.decode(data)


def test_encoding_errors_are_type_and_value_errors() -> None:
    with pytest.raises(TypeError):
        amf0.encode(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        amf0.encode({1: 2.0})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="65535"):
        amf0.encode({"k" * 70000: None})
    with pytest.raises(ValueError, match="UTF-8"):
        amf0.encode("\ud800")
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(ValueError, match="deeply"):
        amf0.encode(cyclic)


# -- properties ---------------------------------------------------------------------------------

scalars = st.one_of(
    st.floats(allow_nan=False),
    st.booleans(),
    st.text(max_size=20),
    st.none(),
    st.just(Undefined),
    st.builds(Date, st.floats(allow_nan=False), st.integers(-(2**15), 2**15 - 1)),
    st.builds(XmlDocument, st.text(max_size=10)),
)
keys = st.text(max_size=8)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=4),
        st.dictionaries(keys, children, max_size=4).map(EcmaArray),
        st.builds(TypedObject, st.text(max_size=6), st.dictionaries(keys, children, max_size=3)),
    ),
    max_leaves=12,
)


def typed(value: Any) -> Any:
    """``value`` with the type of every node made part of it, for a type-exact comparison."""
    if isinstance(value, dict):
        name = getattr(value, "class_name", None)
        return (type(value), name, [(k, typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return (list, [typed(v) for v in value])
    return (type(value), value)


@settings(max_examples=150, deadline=None)
@given(st.lists(values, max_size=3))
def test_decode_inverts_encode(items: list[amf0.Value]) -> None:
    assert typed(amf0.decode(amf0.encode(*items))) == typed(items)


@settings(max_examples=30, deadline=None)
@given(st.floats(allow_nan=True))
def test_numbers_round_trip_bit_exactly(value: float) -> None:
    [decoded] = amf0.decode(amf0.encode(value))
    assert isinstance(decoded, float)
    assert struct.pack(">d", decoded) == struct.pack(">d", value) or math.isnan(value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_protocol_error(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        amf0.decode(data)


@settings(max_examples=100, deadline=None)
@given(values, st.data())
def test_truncated_encodings_raise_protocol_error(value: amf0.Value, data: st.DataObject) -> None:
    encoded = amf0.encode(value)
    cut = data.draw(st.integers(1, len(encoded) - 1)) if len(encoded) > 1 else 0
    if cut:
        with contextlib.suppress(ProtocolError):
            amf0.decode(encoded[:cut])
