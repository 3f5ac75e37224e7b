"""Init segments: the box layout CMAF requires, and the publisher's config copied verbatim."""

from __future__ import annotations

import struct

import pytest

from livecast.media.unit import Track
from livecast.protocols.aac import AudioSpecificConfig
from livecast.protocols.mp4 import UnsupportedCodec, init_segment
from tests.protocols.mp4.boxtree import Box, root

# Sequence headers recorded from ffmpeg (libx264 Main 320x240 at 25 fps; AAC-LC 44.1 kHz mono).
H264 = Track.h264(
    b"\x01M@\r\xff\xe1\x00\x18gM@\r\xec\xa0\xa0\xfd\x80\x88\x00\x00\x03\x00\x08"
    b"\x00\x00\x03\x01\x90x\xa1L\xb0\x01\x00\x04h\xce\x0f\xc8"
)
AAC = Track.aac(b"\x12\x08V\xe5\x00")

MOOV = [b"mvhd", b"trak", b"mvex"]
STBL = [b"stsd", b"stts", b"stsc", b"stsz", b"stco"]


def kinds(node: Box) -> list[bytes]:
    return [child.kind for child in node.children]


def test_video_init_segment_layout() -> None:
    track = H264
    tree = root(init_segment(track, track_id=7))
    assert kinds(tree) == [b"ftyp", b"moov"]
    ftyp = tree.find("ftyp").body
    assert ftyp[:4] == b"iso6"
    assert b"cmfc" in ftyp[8:]
    moov = tree.find("moov")
    assert kinds(moov) == MOOV
    assert struct.unpack_from(">I", moov.find("mvhd").body, 96)[0] == 8  # next_track_ID
    tkhd = moov.find("trak/tkhd")
    assert tkhd.version_flags == (0, 3)
    assert struct.unpack_from(">I", tkhd.body, 12)[0] == 7
    assert struct.unpack_from(">II", tkhd.body, 76) == (320 << 16, 240 << 16)
    mdhd = moov.find("trak/mdia/mdhd").body
    assert struct.unpack_from(">I", mdhd, 12)[0] == 90_000
    assert moov.find("trak/mdia/hdlr").body[8:12] == b"vide"
    assert kinds(moov.find("trak/mdia/minf")) == [b"vmhd", b"dinf", b"stbl"]
    stbl = moov.find("trak/mdia/minf/stbl")
    assert kinds(stbl) == STBL
    entry = stbl.find("stsd/avc1")
    assert struct.unpack_from(">HH", entry.body, 24) == (320, 240)
    assert entry.find("avcC").body == track.config
    trex = moov.find("mvex/trex").body
    assert struct.unpack_from(">II", trex, 4) == (7, 1)


def test_audio_init_segment_layout() -> None:
    track = AAC
    tree = root(init_segment(track))
    moov = tree.find("moov")
    assert struct.unpack_from(">I", moov.find("trak/mdia/mdhd").body, 12)[0] == 44_100
    assert moov.find("trak/mdia/hdlr").body[8:12] == b"soun"
    assert kinds(moov.find("trak/mdia/minf")) == [b"smhd", b"dinf", b"stbl"]
    entry = moov.find("trak/mdia/minf/stbl/stsd/mp4a")
    channels, bits, _, rate = struct.unpack_from(">HH4sI", entry.body, 16)
    assert (channels, bits, rate) == (1, 16, 44_100 << 16)
    esds = entry.find("esds").body
    assert esds.endswith(bytes((0x06, 0x01, 0x02)))  # SLConfigDescriptor, predefined 2
    assert track.config in esds
    start = esds.index(track.config)
    assert esds[start - 2 : start] == bytes((0x05, len(track.config)))  # DecoderSpecificInfo


def test_codec_entries() -> None:
    hevc = Track("video", "hevc", "hvc1.1.6.L93.B0", b"\x01hvcC-record")
    av1 = Track("video", "av1", "av01", b"\x81\x08\x0c\x00")
    for track, entry, config in ((hevc, "hvc1", "hvcC"), (av1, "av01", "av1C")):
        tree = root(init_segment(track))
        sample_entry = tree.find(f"moov/trak/mdia/minf/stbl/stsd/{entry}")
        assert sample_entry.find(config).body == track.config
    assert b"av01" in root(init_segment(av1)).find("ftyp").body


def test_high_sample_rates_leave_the_16_16_field_zero() -> None:
    track = Track.aac(bytes(AudioSpecificConfig(2, 96_000, 2)))
    entry = root(init_segment(track)).find("moov/trak/mdia/minf/stbl/stsd/mp4a")
    assert struct.unpack_from(">I", entry.body, 24)[0] == 0
    assert (
        struct.unpack_from(">I", root(init_segment(track)).find("moov/mvhd").body, 12)[0] == 96_000
    )


@pytest.mark.parametrize(
    "track",
    [Track("video", "vp9", "vp09", b""), Track("audio", "opus", "opus", b"")],
)
def test_codecs_without_a_mapping_are_refused(track: Track) -> None:
    with pytest.raises(UnsupportedCodec):
        init_segment(track)
