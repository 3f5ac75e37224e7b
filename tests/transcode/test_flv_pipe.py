from fractions import Fraction

import pytest

from livecast.errors import ProtocolError
from livecast.ingest.flv_units import FlvDepacketizer
from livecast.media.unit import Unit
from livecast.transcode.flv_pipe import (
    VIDEO_ONLY_HEADER,
    FlvReader,
    SourceTimeline,
    tag,
    video_tag,
)


def test_tags_round_trip_in_any_chunking() -> None:
    unit = Unit("video", "h264", 0x1234_5678 + 40, 0x1234_5678, True, b"\x00\x00\x00\x01\x65", 0)
    body = video_tag(unit)
    assert body is not None
    data = VIDEO_ONLY_HEADER + body + tag(18, 0, b"script") + tag(8, 7, b"\xaf\x01xx")
    for size in (1, 5, len(data)):
        reader = FlvReader()
        tags = [t for i in range(0, len(data), size) for t in reader.receive(data[i : i + size])]
        assert [(t.kind, t.timestamp_ms) for t in tags] == [("video", 0x1234_5678), ("audio", 7)]


def test_not_flv_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        list(FlvReader().receive(b"RIFF" + bytes(20)))


def test_source_timeline_keeps_timestamps_and_marks_restarts() -> None:
    timeline = SourceTimeline()
    assert timeline.normalize("video", 120_000).discontinuity
    stamp = timeline.normalize("video", 120_040)
    assert (stamp.dts, stamp.discontinuity) == (120_040, False)
    timeline.new_session()
    assert timeline.normalize("video", 90_000).dts == 90_000  # never rebased
    assert FlvDepacketizer(timeline).normalizer is timeline
    assert Fraction(1, 1000) == Unit("audio", "aac", 0, 0, True, b"", 0).timebase
