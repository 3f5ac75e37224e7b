"""CMAF header (initialization segment): ``ftyp`` + ``moov`` for one track.

Audio and video are separate renditions, so each init segment describes exactly one track, and
the sample tables are empty: every sample lives in a movie fragment (CMAF, ISO/IEC 23000-19).
``mvex``/``trex`` announces those fragments.
"""

from __future__ import annotations

import struct

from livecast.media.unit import Track
from livecast.protocols.mp4.boxes import UNITY_MATRIX, box, full_box
from livecast.protocols.mp4.sample_entry import sample_entry
from livecast.protocols.mp4.timing import track_timescale

# iso6: ISO BMFF with tfdt v1 and default-base-is-moof; cmfc: CMAF; mp41 for older parsers.
_BRANDS = (b"iso6", b"cmfc", b"mp41")
_LANGUAGE_UND = 0x55C4  # ISO 639-2 "und", packed as three 5-bit letters
_TRACK_ENABLED_IN_MOVIE = 0x000003
_EMPTY_TABLE = struct.pack(">I", 0)


def init_segment(track: Track, track_id: int = 1) -> bytes:
    """The CMAF header for ``track``, whose fragments will carry ``track_id``.

    Raises :class:`~livecast.protocols.mp4.sample_entry.UnsupportedCodec` for a codec with no
    fMP4 mapping here.
    """
    timescale = track_timescale(track)
    brands = _BRANDS + ((b"av01",) if track.codec == "av1" else ())
    ftyp = box(b"ftyp", _BRANDS[0], struct.pack(">I", 0), *brands)
    trak = _trak(track, track_id, timescale)
    return ftyp + box(b"moov", _mvhd(timescale, track_id), trak, _mvex(track_id))


def _mvhd(timescale: int, track_id: int) -> bytes:
    body = struct.pack(">IIIIIH10x", 0, 0, timescale, 0, 0x00010000, 0x0100)  # rate 1, volume 1
    return full_box(b"mvhd", 0, 0, body, UNITY_MATRIX, bytes(24), struct.pack(">I", track_id + 1))


def _trak(track: Track, track_id: int, timescale: int) -> bytes:
    return box(b"trak", _tkhd(track, track_id), _mdia(track, timescale))


def _tkhd(track: Track, track_id: int) -> bytes:
    volume = 0x0100 if track.kind == "audio" else 0
    head = struct.pack(">III4xI8xHHH2x", 0, 0, track_id, 0, 0, 0, volume)
    size = struct.pack(">II", (track.width or 0) << 16, (track.height or 0) << 16)
    return full_box(b"tkhd", 0, _TRACK_ENABLED_IN_MOVIE, head, UNITY_MATRIX, size)


def _mdia(track: Track, timescale: int) -> bytes:
    mdhd = full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, 0, _LANGUAGE_UND, 0))
    audio = track.kind == "audio"
    handler, name = (b"soun", b"SoundHandler") if audio else (b"vide", b"VideoHandler")
    hdlr = full_box(b"hdlr", 0, 0, bytes(4), handler, bytes(12), name, b"\x00")
    return box(b"mdia", mdhd, hdlr, _minf(track))


def _minf(track: Track) -> bytes:
    if track.kind == "audio":
        media_header = full_box(b"smhd", 0, 0, bytes(4))  # balance 0, reserved
    else:
        media_header = full_box(b"vmhd", 0, 1, bytes(8))  # graphicsmode copy, opcolor 0
    dref = full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"url ", 0, 1))  # self-contained
    stbl = box(
        b"stbl",
        full_box(b"stsd", 0, 0, struct.pack(">I", 1), sample_entry(track)),
        full_box(b"stts", 0, 0, _EMPTY_TABLE),
        full_box(b"stsc", 0, 0, _EMPTY_TABLE),
        full_box(b"stsz", 0, 0, bytes(8)),  # sample_size 0, sample_count 0
        full_box(b"stco", 0, 0, _EMPTY_TABLE),
    )
    return box(b"minf", media_header, box(b"dinf", dref), stbl)


def _mvex(track_id: int) -> bytes:
    # default_sample_description_index 1; duration, size and flags come with every trun
    trex = full_box(b"trex", 0, 0, struct.pack(">IIIII", track_id, 1, 0, 0, 0))
    return box(b"mvex", trex)
