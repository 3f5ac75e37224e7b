"""Sample entries for the ``stsd`` box: the codec and its decoder configuration.

* H.264: ``avc1`` + ``avcC``, HEVC: ``hvc1`` + ``hvcC`` (ISO/IEC 14496-15), both
  with parameter sets in the record, as the publisher's sequence header carries them.
* AV1: ``av01`` + ``av1C`` (AV1 Codec ISO Media File Format Binding).
* AAC: ``mp4a`` + ``esds`` (ISO/IEC 14496-14), whose ES_Descriptor wraps the
  AudioSpecificConfig (ISO/IEC 14496-1 descriptors).
"""

from __future__ import annotations

import struct

from livecast.errors import LivecastError
from livecast.media.unit import Track
from livecast.protocols.mp4.boxes import box, full_box

_VIDEO_ENTRIES = {"h264": (b"avc1", b"avcC"), "hevc": (b"hvc1", b"hvcC"), "av1": (b"av01", b"av1C")}
_RESERVED_AND_DATA_REFERENCE = bytes(6) + struct.pack(">H", 1)  # data_reference_index 1
_72_DPI = 0x00480000

# MPEG-4 descriptor tags (ISO/IEC 14496-1) and the values an AAC stream uses.
_ES_DESCRIPTOR = 0x03
_DECODER_CONFIG_DESCRIPTOR = 0x04
_DECODER_SPECIFIC_INFO = 0x05
_SL_CONFIG_DESCRIPTOR = 0x06
_OBJECT_TYPE_AAC = 0x40  # "Audio ISO/IEC 14496-3"
_STREAM_TYPE_AUDIO = 0x05


class UnsupportedCodec(LivecastError, ValueError):
    """The track's codec has no CMAF sample entry here (VP8/VP9, Opus, MP3 …)."""


def sample_entry(track: Track) -> bytes:
    """The sample entry box describing ``track``."""
    if track.kind == "audio":
        if track.codec != "aac":
            raise UnsupportedCodec(f"no fMP4 sample entry for audio codec {track.codec!r}")
        return _mp4a(track)
    names = _VIDEO_ENTRIES.get(track.codec)
    if names is None:
        raise UnsupportedCodec(f"no fMP4 sample entry for video codec {track.codec!r}")
    entry_type, config_type = names
    return _visual(entry_type, track, box(config_type, track.config))


def _visual(entry_type: bytes, track: Track, config_box: bytes) -> bytes:
    # VisualSampleEntry (14496-12, 12.1.3); the size is 0 where the track does not know it
    # (HEVC and AV1 until their sequence headers are parsed): decoders read the real size
    # from the configuration record.
    fields = struct.pack(
        ">HH12xHHIIIHB31xHh",
        0,  # pre_defined
        0,  # reserved
        track.width or 0,
        track.height or 0,
        _72_DPI,
        _72_DPI,
        0,  # reserved
        1,  # frame_count
        0,  # compressorname: an empty Pascal string padded to 32 bytes
        0x0018,  # depth: colour, no alpha
        -1,  # pre_defined
    )
    return box(entry_type, _RESERVED_AND_DATA_REFERENCE, fields, config_box)


def _mp4a(track: Track) -> bytes:
    sample_rate = track.sample_rate or 0
    # AudioSampleEntry (14496-12, 12.2.3): samplerate is 16.16 fixed point, so rates from
    # 64 kHz up do not fit; 0 there, the AudioSpecificConfig carries the true rate.
    rate_field = sample_rate << 16 if sample_rate < 0x10000 else 0
    fields = struct.pack(">8xHH4xI", track.channels or 2, 16, rate_field)
    return box(b"mp4a", _RESERVED_AND_DATA_REFERENCE, fields, esds(track.config))


def esds(audio_specific_config: bytes, avg_bitrate: int = 0, max_bitrate: int = 0) -> bytes:
    """The ``esds`` box around an AAC AudioSpecificConfig."""
    decoder_specific = _descriptor(_DECODER_SPECIFIC_INFO, audio_specific_config)
    decoder_config = _descriptor(
        _DECODER_CONFIG_DESCRIPTOR,
        struct.pack(
            ">BBHBII",
            _OBJECT_TYPE_AAC,
            _STREAM_TYPE_AUDIO << 2 | 1,  # upStream 0, reserved 1
            0,  # bufferSizeDB, 24 bits: 0 = unknown
            0,
            max_bitrate,
            avg_bitrate,
        ),
        decoder_specific,
    )
    sl_config = _descriptor(_SL_CONFIG_DESCRIPTOR, b"\x02")  # predefined: MP4 files
    es = _descriptor(_ES_DESCRIPTOR, struct.pack(">HB", 0, 0), decoder_config, sl_config)
    return full_box(b"esds", 0, 0, es)


def _descriptor(tag: int, *body: bytes) -> bytes:
    size = sum(map(len, body))
    # expandable size: 7 bits per byte, most significant first, high bit = "more follows"
    encoded = [size & 0x7F]
    size >>= 7
    while size:
        encoded.append(0x80 | size & 0x7F)
        size >>= 7
    return b"".join((bytes((tag, *reversed(encoded))), *body))
