"""A stream may ask for its ladder's codec; one this node cannot encode is refused up front."""

from __future__ import annotations

from dataclasses import replace

import imageio_ffmpeg
import pytest

from livecast.events.catalog import TranscodeStateChanged
from livecast.transcode.config import NodeEncoders
from livecast.transcode.encoders import probe_encoder
from tests.helpers import assert_problem
from tests.packaging.conftest import Node, Tag, attributes, lines, until
from tests.transcode.conftest import feed_live

pytestmark = pytest.mark.e2e


def _without_av1(node: Node) -> None:
    """This node's ffmpeg, as if it were built without an AV1 encoder."""
    transcoders = node.live.transcoders
    assert transcoders is not None
    encoders = NodeEncoders(node.ctx.settings)
    encoders.available = encoders.available - {"libsvtav1"}
    transcoders.config = replace(transcoders.config, encoder_for=encoders.for_codec)


async def test_a_codec_the_node_cannot_encode_is_refused_at_creation(ladder_node: Node) -> None:
    _without_av1(ladder_node)
    refused = await ladder_node.http.post(
        "/api/v1/streams",
        json={"title": "av1 please", "video_codec": "av1"},
        headers=ladder_node.headers,
    )
    assert_problem(refused, 400, "cannot transcode to av1")
    assert "libsvtav1" in refused.json()["detail"]
    listed = await ladder_node.http.get("/api/v1/streams", headers=ladder_node.headers)
    assert listed.json()["total"] == 0  # nothing was created

    created = await ladder_node.create_stream(video_codec="hevc")
    assert created["video_codec"] == "hevc"
    url = f"/api/v1/streams/{created['id']}"
    assert_problem(
        await ladder_node.http.patch(url, json={"video_codec": "av1"}, headers=ladder_node.headers),
        400,
        "cannot transcode to av1",
    )
    assert (await ladder_node.http.get(url, headers=ladder_node.headers)).json()[
        "video_codec"
    ] == "hevc"
    back = await ladder_node.http.patch(
        url, json={"video_codec": None}, headers=ladder_node.headers
    )
    assert back.status_code == 200, back.text
    assert back.json()["video_codec"] is None  # the node's default again


async def test_an_hevc_stream_gets_an_hevc_ladder(
    ladder_node: Node, sd_tags: list[Tag], ladder_events: list[TranscodeStateChanged]
) -> None:
    created = await ladder_node.create_stream(video_codec="hevc")
    stream, _ = await ladder_node.publish(created["stream_key"])
    await feed_live(stream, [tag for tag in sd_tags if tag[1] < 8000])
    packager = ladder_node.packager(stream)
    await until(
        lambda: (
            "360p" in packager.renditions
            and any(s.complete for s in packager.renditions["360p"].segments)
        ),
        30,
    )
    job = ladder_node.live.transcoders.get(str(stream.id))  # type: ignore[union-attr]
    assert job is not None
    assert job.supervisor is not None
    assert job.supervisor.options.encode.encoder == "libx265"
    master = (await ladder_node.http.get(f"/hls/{created['id']}/master.m3u8")).text
    codecs = [attributes(line)["CODECS"] for line in lines(master, "#EXT-X-STREAM-INF")]
    assert codecs[0].startswith("avc1.")  # the source, untouched
    assert all(c.startswith(("hvc1.", "hev1.")) for c in codecs[1:]), codecs
    assert ladder_events[0].state == "transcoding"


def test_probing_tells_an_encoder_that_runs_from_one_that_does_not() -> None:
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    assert probe_encoder(ffmpeg, "libx264") is None
    reason = probe_encoder(ffmpeg, "no_such_encoder")
    assert reason is not None
    assert "no_such_encoder" in reason or "encoder" in reason.lower()
