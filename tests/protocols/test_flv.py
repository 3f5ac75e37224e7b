"""FLV tag bodies: real files from ffmpeg checked against PyAV, hand-built Enhanced RTMP tags,
and Hypothesis for malformed input."""

from __future__ import annotations

import contextlib
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import imageio_ffmpeg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livecast.errors import ProtocolError
from livecast.media.unit import Track
from livecast.protocols.flv import (
    AudioFrame,
    AudioSequenceEnd,
    AudioSequenceStart,
    UnsupportedAudio,
    UnsupportedVideo,
    VideoCommand,
    VideoFrame,
    VideoFrameType,
    VideoMetadata,
    VideoSequenceEnd,
    VideoSequenceStart,
    parse_audio_tag,
    parse_video_tag,
)
from livecast.protocols.h264 import contains_idr
from livecast.protocols.hevc import HEVCDecoderConfigurationRecord
from tests.flv_file import FlvTag, read_tags

TAG_AUDIO, TAG_VIDEO = "audio", "video"
H264_PROFILES = {66: "Baseline", 77: "Main", 100: "High", 244: "High 4:4:4 Predictive"}
HEVC_PROFILES = {1: "Main", 2: "Main 10", 4: "Rext"}


@dataclass(frozen=True)
class Media:
    """One FLV file made by ffmpeg, and its tags."""

    path: Path
    tags: list[FlvTag]


def _ffmpeg() -> str:
    exe: str = imageio_ffmpeg.get_ffmpeg_exe()
    return exe


def _encoders() -> str:
    command = [_ffmpeg(), "-hide_banner", "-encoders"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


# name: (encoder, ffmpeg output options for video). Audio is AAC, 48 kHz stereo, in every file.
ENCODES = {
    # 318x238 forces SPS cropping; two B-frames give non-zero composition offsets.
    "h264": ("libx264", "-s 318x238 -pix_fmt yuv420p -bf 2 -g 25"),
    # RGB test source kept at 4:4:4: High 4:4:4 Predictive profile, chroma_format_idc 3.
    "h264_444": ("libx264", "-pix_fmt yuv444p -bf 2 -g 12"),
    "h264_ntsc": ("libx264", "-r 30000/1001 -pix_fmt yuv420p -profile:v main"),
    # Legacy FLV cannot carry these: ffmpeg writes Enhanced RTMP tags (hvc1, av01).
    "hevc": ("libx265", "-pix_fmt yuv420p -x265-params log-level=error -bf 2 -g 25"),
    "av1": ("libsvtav1", "-pix_fmt yuv420p -g 25 -preset 12"),
}
SOURCES = "-f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i sine=sample_rate=48000 -t 1"


@pytest.fixture(scope="session")
def flv_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Media]:
    """Encode one second of test pattern and sine tone per entry of ENCODES, as FLV."""
    directory = tmp_path_factory.mktemp("flv")
    available = _encoders()
    files = {}
    for name, (encoder, video_args) in ENCODES.items():
        if f" {encoder} " not in available:
            continue
        path = directory / f"{name}.flv"
        command = [_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", *SOURCES.split()]
        command += ["-c:v", encoder, *video_args.split(), "-c:a", "aac", "-ac", "2"]
        subprocess.run(
            [*command, "-f", "flv", str(path)], check=True, capture_output=True, timeout=60
        )
        files[name] = Media(path, read_tags(path))
    return files


def _media(flv_files: dict[str, Media], name: str) -> Media:
    if name not in flv_files:
        pytest.skip(f"the ffmpeg binary has no {ENCODES[name][0]} encoder")
    return flv_files[name]


def _pyav_packets(path: Path, kind: str) -> list[tuple[int, int, bool, bytes]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0] if kind == "video" else container.streams.audio[0]
        assert stream.time_base == Fraction(1, 1000)
        return [
            (packet.pts, packet.dts, packet.is_keyframe, bytes(packet))
            for packet in container.demux(stream)
            if packet.size
        ]


def _parsed(media: Media, tag_type: str) -> list[tuple[int, object]]:
    parse = parse_video_tag if tag_type == TAG_VIDEO else parse_audio_tag
    return [(ts, parse(body)) for kind, ts, body in media.tags if kind == tag_type]


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["h264", "h264_444", "h264_ntsc", "hevc", "av1"])
def test_video_tags_match_pyav(flv_files: dict[str, Media], name: str) -> None:
    media = _media(flv_files, name)
    parsed = _parsed(media, TAG_VIDEO)
    frames = [(ts, tag) for ts, tag in parsed if isinstance(tag, VideoFrame)]
    ours = [(ts + tag.composition_time, ts, tag.keyframe, tag.data) for ts, tag in frames]

    assert ours == _pyav_packets(media.path, "video")
    # B-frames give composition offsets; AV1 never has any.
    assert any(tag.composition_time > 0 for _, tag in frames) == (name != "av1")
    assert isinstance(parsed[0][1], VideoSequenceStart)
    if name.startswith("h264"):
        assert isinstance(parsed[-1][1], VideoSequenceEnd)
        assert all(contains_idr(tag.data) == tag.keyframe for _, tag in frames)


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["h264", "h264_444", "h264_ntsc"])
def test_h264_track_matches_pyav(flv_files: dict[str, Media], name: str) -> None:
    media = _media(flv_files, name)
    start = next(tag for _, tag in _parsed(media, TAG_VIDEO) if isinstance(tag, VideoSequenceStart))
    track = Track.h264(start.config)
    with av.open(str(media.path)) as container:
        stream = container.streams.video[0]
        context = stream.codec_context
        assert start.config == context.extradata
        assert (track.width, track.height) == (context.width, context.height)
        assert track.frame_rate == stream.guessed_rate
        profile_idc, level_idc = start.config[1], start.config[3]
        assert H264_PROFILES[profile_idc] == context.profile
        assert level_idc == context.level
    assert track.codec_string == f"avc1.{start.config[1:4].hex()}"


@pytest.mark.e2e
def test_hevc_track_matches_pyav(flv_files: dict[str, Media]) -> None:
    media = _media(flv_files, "hevc")
    parsed = [tag for _, tag in _parsed(media, TAG_VIDEO)]
    start = next(tag for tag in parsed if isinstance(tag, VideoSequenceStart))
    record = HEVCDecoderConfigurationRecord.parse(start.config)
    with av.open(str(media.path)) as container:
        context = container.streams.video[0].codec_context
        assert start.config == context.extradata
        assert HEVC_PROFILES[record.general_profile_idc] == context.profile
        assert record.general_level_idc == context.level
    assert Track.hevc(start.config).codec_string == f"hvc1.1.6.L{context.level}.90"
    assert [len(record.nal_units(t)) for t in (32, 33, 34)] == [1, 1, 1]
    assert any(isinstance(tag, VideoMetadata) for tag in parsed)  # ffmpeg's colorInfo
    packet_types = {body[0] & 0x0F for kind, _, body in media.tags if kind == TAG_VIDEO}
    assert packet_types == {0, 1, 3, 4}  # SequenceStart, CodedFrames, CodedFramesX, Metadata


@pytest.mark.e2e
def test_audio_tags_match_pyav(flv_files: dict[str, Media]) -> None:
    media = _media(flv_files, "h264")
    parsed = _parsed(media, TAG_AUDIO)
    assert isinstance(parsed[0][1], AudioSequenceStart)
    frames = [(ts, ts, True, tag.data) for ts, tag in parsed if isinstance(tag, AudioFrame)]
    assert frames == _pyav_packets(media.path, "audio")

    track = Track.aac(parsed[0][1].config)
    with av.open(str(media.path)) as container:
        context = container.streams.audio[0].codec_context
        assert parsed[0][1].config == context.extradata
        assert (track.sample_rate, track.channels) == (context.sample_rate, context.channels)
        assert track.samples_per_frame == context.frame_size == 1024
    assert track.codec_string == "mp4a.40.2"


# Hand-built tags: the Enhanced RTMP paths ffmpeg does not write, and the edge cases.


def ex_video(frame_type: int, packet_type: int, rest: bytes) -> bytes:
    return bytes((0x80 | frame_type << 4 | packet_type,)) + rest


def test_legacy_avc_negative_composition_time() -> None:
    tag = parse_video_tag(b"\x27\x01\xff\xff\xd8" + b"\x00\x00\x00\x01\x41")
    assert tag == VideoFrame("h264", VideoFrameType.INTER_FRAME, -40, b"\x00\x00\x00\x01\x41")
    assert not tag.keyframe


def test_legacy_hevc_codec_id_12() -> None:
    assert parse_video_tag(b"\x1c\x00\x00\x00\x00\x01") == VideoSequenceStart("hevc", b"\x01")


def test_command_frames_carry_no_picture() -> None:
    assert parse_video_tag(b"\x57\x01") == VideoCommand(1)
    assert parse_video_tag(ex_video(5, 1, b"\x00")) == VideoCommand(0)


def test_unsupported_legacy_video_codec() -> None:
    tag = parse_video_tag(b"\x22" + b"\x00" * 8)  # Sorenson H.263
    assert tag == UnsupportedVideo("legacy video codec id 2", codec_id=2)


def test_enhanced_coded_frames_x_has_zero_composition_time() -> None:
    tag = parse_video_tag(ex_video(2, 3, b"hvc1" + b"\x00\x00\x00\x02\x02\x01"))
    assert tag == VideoFrame("hevc", VideoFrameType.INTER_FRAME, 0, b"\x00\x00\x00\x02\x02\x01")


def test_enhanced_coded_frames_composition_time() -> None:
    tag = parse_video_tag(ex_video(1, 1, b"avc1\x00\x00\x50DATA"))
    assert tag == VideoFrame("h264", VideoFrameType.KEY_FRAME, 80, b"DATA")
    assert tag.keyframe


def test_enhanced_av1_coded_frames_have_no_composition_time() -> None:
    tag = parse_video_tag(ex_video(1, 1, b"av01\x12\x00\x0a"))
    assert tag == VideoFrame("av1", VideoFrameType.KEY_FRAME, 0, b"\x12\x00\x0a")


def test_enhanced_sequence_start_and_end() -> None:
    assert parse_video_tag(ex_video(1, 0, b"av01\x81\x00")) == VideoSequenceStart(
        "av1", b"\x81\x00"
    )
    assert parse_video_tag(ex_video(1, 2, b"hvc1")) == VideoSequenceEnd("hevc")


def test_enhanced_mod_ex_prefix_is_skipped() -> None:
    # ModEx: size 3 (UI8 2 + 1), 3 bytes of nanosecond offset, then type 0 / CodedFramesX.
    tag = parse_video_tag(ex_video(2, 7, b"\x02\x00\x01\x00\x03avc1DATA"))
    assert tag == VideoFrame("h264", VideoFrameType.INTER_FRAME, 0, b"DATA")
    long_mod_ex = b"\xff\x01\x00" + b"\x00" * 257 + b"\x03"  # UI16 size 256 + 1
    tag = parse_video_tag(ex_video(2, 7, long_mod_ex + b"avc1DATA"))
    assert tag == VideoFrame("h264", VideoFrameType.INTER_FRAME, 0, b"DATA")


def test_enhanced_unsupported_video() -> None:
    assert parse_video_tag(ex_video(1, 1, b"xxxx")) == UnsupportedVideo(
        "video FourCC b'xxxx'", fourcc=b"xxxx"
    )
    assert isinstance(parse_video_tag(ex_video(1, 6, b"\x00avc1")), UnsupportedVideo)
    assert isinstance(parse_video_tag(ex_video(1, 5, b"av01\x00")), UnsupportedVideo)


def test_enhanced_metadata_ignores_frame_type() -> None:
    assert parse_video_tag(ex_video(0, 4, b"hvc1AMF")) == VideoMetadata("hevc", b"AMF")


def test_legacy_audio() -> None:
    assert parse_audio_tag(b"\xaf\x00\x12\x10") == AudioSequenceStart("aac", b"\x12\x10")
    assert parse_audio_tag(b"\xaf\x01\x21\x00") == AudioFrame("aac", b"\x21\x00")
    mp3 = parse_audio_tag(b"\x2f\xff\xfb")
    assert mp3 == UnsupportedAudio("legacy sound format 2 (MP3)", 2)


def test_enhanced_audio() -> None:
    assert parse_audio_tag(b"\x90mp4a\x12\x10") == AudioSequenceStart("aac", b"\x12\x10")
    assert parse_audio_tag(b"\x91Opus\xfc") == AudioFrame("opus", b"\xfc")
    assert parse_audio_tag(b"\x92fLaC") == AudioSequenceEnd("flac")
    assert isinstance(parse_audio_tag(b"\x91wxyz"), UnsupportedAudio)
    assert isinstance(parse_audio_tag(b"\x95\x00mp4a"), UnsupportedAudio)  # multitrack
    assert parse_audio_tag(b"\x97\x00\x00\x01mp4a\x21") == AudioFrame("aac", b"\x21")  # ModEx


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x17\x01\x00",  # truncated AVC header
        b"\x17\x03\x00\x00\x00",  # AVCPacketType 3
        b"\x17\x00\x00\x00\x00",  # sequence header without a record
        b"\x07\x01\x00\x00\x00",  # frame type 0
        b"\x57",  # command frame without its command
        b"\x91hvc",  # truncated FourCC
        b"\x91hvc1\x00",  # truncated composition time
        b"\x98hvc1",  # reserved packet type 8
        b"\xe1hvc1\x00\x00\x00",  # reserved frame type 6
        b"\x97\x05\x00",  # ModEx data cut short
    ],
)
def test_malformed_video_raises_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_video_tag(body)


@pytest.mark.parametrize(
    "body", [b"", b"\xaf", b"\xaf\x02", b"\xaf\x00", b"\x93mp4a", b"\x90mp4", b"\x97\xff"]
)
def test_malformed_audio_raises_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_audio_tag(body)


_HEADER_BYTES = st.sampled_from([0x17, 0x27, 0x57, 0x1C, 0x22, 0x90, 0x91, 0x93, 0x97, 0xA1])
_FOURCCS = st.sampled_from([b"avc1", b"hvc1", b"av01", b"mp4a", b"Opus", b"abcd", b""])


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_raise_only_protocol_error(body: bytes) -> None:
    for parse in (parse_video_tag, parse_audio_tag, HEVCDecoderConfigurationRecord.parse):
        with contextlib.suppress(ProtocolError):
            parse(body)


@settings(max_examples=300)
@given(_HEADER_BYTES, _FOURCCS, st.binary(max_size=32))
def test_plausible_tags_raise_only_protocol_error(first: int, fourcc: bytes, rest: bytes) -> None:
    body = bytes((first,)) + fourcc + rest
    for parse in (parse_video_tag, parse_audio_tag):
        with contextlib.suppress(ProtocolError):
            parse(body)
