"""AAC AudioSpecificConfig: configs captured from ffmpeg, the escape paths, and Hypothesis."""

from __future__ import annotations

import contextlib
import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livecast.errors import ProtocolError
from livecast.protocols.aac import SAMPLING_FREQUENCIES, AudioSpecificConfig


@pytest.mark.parametrize(
    ("hex_config", "frequency", "channels"),
    [
        ("120856e500", 44100, 1),  # ffmpeg's aac encoder, with its SBR sync extension
        ("119056e500", 48000, 2),
        ("1210", 44100, 2),
    ],
)
def test_captured_lc_configs(hex_config: str, frequency: int, channels: int) -> None:
    config = AudioSpecificConfig.parse(bytes.fromhex(hex_config))
    assert (config.object_type, config.sampling_frequency) == (2, frequency)
    assert config.channels == channels
    assert config.codec_string == "mp4a.40.2"
    assert config.samples_per_frame == 1024
    assert bytes(config) == bytes.fromhex(hex_config)[:2]


def test_explicit_he_aac() -> None:
    # aot 5 | 24 kHz | stereo | extension 48 kHz | core aot 2 | GASpecificConfig zeros
    config = AudioSpecificConfig.parse(bytes.fromhex("2b118800"))
    assert config == AudioSpecificConfig(5, 24000, 2, False, 2, 48000)
    assert config.codec_string == "mp4a.40.5"
    assert bytes(config) == bytes.fromhex("2b118800")


def test_escaped_object_type_and_explicit_frequency() -> None:
    config = AudioSpecificConfig(object_type=42, sampling_frequency=37800, channel_configuration=7)
    data = bytes(config)
    assert data[0] >> 3 == 31  # escape
    assert AudioSpecificConfig.parse(data) == config
    assert config.channels == 8
    assert config.codec_string == "mp4a.40.42"


def test_960_sample_frames() -> None:
    config = AudioSpecificConfig(2, 48000, 2, frame_length_flag=True)
    assert AudioSpecificConfig.parse(bytes(config)).samples_per_frame == 960
    assert AudioSpecificConfig(23, 48000, 1).samples_per_frame == 512  # AAC-LD


@pytest.mark.parametrize(
    "hex_config",
    [
        "",
        "12",  # ends inside samplingFrequencyIndex
        "0210",  # object type 0
        "1690",  # samplingFrequencyIndex 13
        "1240",  # channelConfiguration 8
        "1780000000",  # explicit frequency 0
        "2b11",  # SBR, ends inside its extension fields
    ],
)
def test_malformed(hex_config: str) -> None:
    with pytest.raises(ProtocolError):
        AudioSpecificConfig.parse(bytes.fromhex(hex_config))


_CONFIGS = st.builds(
    AudioSpecificConfig,
    object_type=st.sampled_from([1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23, 42, 45]),
    sampling_frequency=st.sampled_from(SAMPLING_FREQUENCIES) | st.integers(1, 2**24 - 1),
    channel_configuration=st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 14]),
    frame_length_flag=st.booleans(),
)


@settings(max_examples=200)
@given(_CONFIGS)
def test_round_trip(config: AudioSpecificConfig) -> None:
    if config.object_type in (42, 45):  # not GA: no frameLengthFlag to carry
        config = dataclasses.replace(config, frame_length_flag=False)
    assert AudioSpecificConfig.parse(bytes(config)) == config


@settings(max_examples=300)
@given(st.binary(max_size=16))
def test_arbitrary_bytes_raise_only_protocol_error(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        AudioSpecificConfig.parse(data)
