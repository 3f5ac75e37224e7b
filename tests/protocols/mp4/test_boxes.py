"""Box framing: sizes always match what was written, and the reader inverts the writer."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecast.errors import ProtocolError
from livecast.protocols.mp4 import box, full_box, iter_boxes
from livecast.protocols.mp4.boxes import header_size

kinds = st.binary(min_size=4, max_size=4)
# A box tree: (type, payload) leaves, or (type, [children]) containers.
trees = st.recursive(
    st.tuples(kinds, st.binary(max_size=64)),
    lambda children: st.tuples(kinds, st.lists(children, max_size=4)),
    max_leaves=12,
)


def serialize(tree: tuple[bytes, object]) -> bytes:
    kind, content = tree
    if isinstance(content, bytes):
        return box(kind, content)
    assert isinstance(content, list)
    return box(kind, *(serialize(child) for child in content))


def deserialize(data: bytes | memoryview, shape: tuple[bytes, object]) -> list[object]:
    """Read ``data`` back, using ``shape`` to know which boxes are containers."""
    content = shape[1]
    if isinstance(content, bytes):
        return [bytes(data)]
    assert isinstance(content, list)
    children = list(iter_boxes(data))
    assert len(children) == len(content)
    return [
        (kind, *deserialize(body, child_shape))
        for (kind, body), child_shape in zip(children, content, strict=True)
    ]


@given(trees)
def test_tree_round_trips_and_every_size_is_consistent(tree: tuple[bytes, object]) -> None:
    data = serialize(tree)
    assert struct.unpack_from(">I", data)[0] == len(data)
    ((kind, body),) = list(iter_boxes(data))
    assert kind == tree[0]
    assert deserialize(body, tree) == normalise(tree[1])


def normalise(content: object) -> list[object]:
    """The shape ``deserialize`` returns: a leaf's payload, or each child as (type, ...)."""
    if isinstance(content, bytes):
        return [content]
    assert isinstance(content, list)
    return [(kind, *normalise(child)) for kind, child in content]


@given(kinds, st.integers(0, 255), st.integers(0, 0xFFFFFF), st.binary(max_size=64))
def test_full_box_header(kind: bytes, version: int, flags: int, payload: bytes) -> None:
    data = full_box(kind, version, flags, payload)
    assert len(data) == 12 + len(payload)
    assert struct.unpack_from(">I4sI", data) == (len(data), kind, version << 24 | flags)
    ((read_kind, body),) = list(iter_boxes(data))
    assert (read_kind, bytes(body[4:])) == (kind, payload)


@given(st.lists(st.tuples(kinds, st.binary(max_size=32)), max_size=8))
def test_sequences_of_boxes_split_back(items: list[tuple[bytes, bytes]]) -> None:
    data = b"".join(box(kind, payload) for kind, payload in items)
    assert [(kind, bytes(body)) for kind, body in iter_boxes(data)] == items


@given(st.binary(max_size=64))
def test_reader_only_raises_protocol_error(data: bytes) -> None:
    try:
        for _ in iter_boxes(data):
            pass
    except ProtocolError:
        pass


def test_largesize_and_size_zero_are_read() -> None:
    large = struct.pack(">I4sQ", 1, b"mdat", 16 + 3) + b"abc"
    to_end = struct.pack(">I4s", 0, b"free") + b"rest"
    assert [(k, bytes(b)) for k, b in iter_boxes(large + to_end)] == [
        (b"mdat", b"abc"),
        (b"free", b"rest"),
    ]


@pytest.mark.parametrize(
    "data",
    [b"\x00\x00\x00", struct.pack(">I4s", 4, b"bad "), struct.pack(">I4s", 20, b"long") + b"x"],
)
def test_malformed_framing_is_refused(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        list(iter_boxes(data))


def test_header_size_switches_to_largesize_above_4_gib() -> None:
    assert header_size(100) == 8
    assert header_size(2**32) == 16
