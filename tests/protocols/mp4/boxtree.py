"""A test-side ISO BMFF reader: just enough to check what the writer produced, box by box."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from livecast.protocols.mp4 import iter_boxes

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"dinf", b"stbl", b"mvex", b"moof", b"traf"}
# Sample entries: fixed fields of this many bytes come before their child boxes.
SAMPLE_ENTRY_FIELDS = {b"avc1": 78, b"hvc1": 78, b"av01": 78, b"mp4a": 28}


@dataclass
class Box:
    kind: bytes
    body: bytes
    children: list[Box] = field(default_factory=list)

    def find(self, path: str) -> Box:
        """The first descendant along a slash-separated path of box types."""
        node = self
        for kind in path.split("/"):
            node = next(child for child in node.children if child.kind == kind.encode())
        return node

    @property
    def version_flags(self) -> tuple[int, int]:
        word = struct.unpack_from(">I", self.body)[0]
        return word >> 24, word & 0xFFFFFF


def parse(data: bytes) -> list[Box]:
    boxes = []
    for kind, body in iter_boxes(data):
        node = Box(kind, bytes(body))
        if kind in CONTAINERS:
            node.children = parse(node.body)
        elif kind == b"stsd":
            node.children = parse(node.body[8:])  # version/flags, entry_count
            for entry in node.children:
                skip = SAMPLE_ENTRY_FIELDS.get(entry.kind)
                if skip is not None:
                    entry.children = parse(entry.body[skip:])
        elif kind == b"dref":
            node.children = parse(node.body[8:])
        boxes.append(node)
    return boxes


def root(data: bytes) -> Box:
    """All top-level boxes as the children of one synthetic root."""
    return Box(b"root", data, parse(data))


@dataclass
class Trun:
    version: int
    flags: int
    data_offset: int
    samples: list[tuple[int, int, int, int]]  # duration, size, flags, composition offset


def parse_trun(node: Box) -> Trun:
    version, flags = node.version_flags
    count, data_offset = struct.unpack_from(">Ii", node.body, 4)
    has_offsets = bool(flags & 0x800)
    fmt = ">III" + ("i" if version else "I") if has_offsets else ">III"
    row = struct.Struct(fmt)
    samples = []
    for i in range(count):
        values = row.unpack_from(node.body, 12 + i * row.size)
        samples.append((*values, 0) if not has_offsets else values)
    return Trun(version, flags, data_offset, samples)


def tfdt(node: Box) -> int:
    return int(struct.unpack_from(">Q", node.find("traf/tfdt").body, 4)[0])
