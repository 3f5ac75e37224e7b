"""Live thumbnails: every few seconds, the newest keyframe decoded by PyAV into a small JPEG.

Each round adds a reader, which starts with the stream's config and cached group of pictures,
so its first unit is the newest keyframe; the reader is dropped at once, so between rounds the
thumbnailer costs nothing per unit. Decoding and JPEG encoding run in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import cast

import av

from livecast.media.stream import Reader, Stream, StreamClosed, StreamConfig
from livecast.media.unit import Track, Unit

log = logging.getLogger(__name__)

MAX_WIDTH = 640
READER_QUEUE = 4096  # room for a cached GOP, so a new reader starts at the newest keyframe


@dataclass(frozen=True, slots=True)
class Thumbnail:
    jpeg: bytes
    width: int
    height: int
    created: float  # wall-clock seconds


def render_jpeg(track: Track, unit: Unit, max_width: int = MAX_WIDTH) -> Thumbnail:
    """Decode one keyframe (AVCC/HVCC payload, ``track.config`` as extradata) into a JPEG."""
    decoder = cast(av.VideoCodecContext, av.CodecContext.create(track.codec, "r"))
    decoder.extradata = track.config
    frames = list(decoder.decode(av.Packet(unit.payload)))
    frames += list(decoder.decode(None))
    if not frames:
        raise ValueError("the keyframe did not decode")
    frame = frames[0]
    width = min(max_width, frame.width) // 2 * 2
    height = max(2, round(frame.height * width / frame.width / 2) * 2)
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height = width, height
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = Fraction(1, 25)
    encoder.options = {"qscale": "4"}
    small = frame.reformat(width=width, height=height, format="yuvj420p")
    packets = [*encoder.encode(small), *encoder.encode(None)]
    return Thumbnail(b"".join(bytes(p) for p in packets), width, height, time.time())


class Thumbnails:
    """The latest thumbnail of every live stream on this node."""

    def __init__(self, interval_seconds: float) -> None:
        self.interval = interval_seconds
        self._latest: dict[str, Thumbnail] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def get(self, stream_id: str) -> Thumbnail | None:
        return self._latest.get(stream_id)

    def start(self, stream_id: str, media: Stream) -> None:
        self.stop(stream_id)
        self._tasks[stream_id] = asyncio.create_task(
            self._run(stream_id, media), name=f"thumbnails-{stream_id}"
        )

    def stop(self, stream_id: str) -> None:
        task = self._tasks.pop(stream_id, None)
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, stream_id: str, media: Stream) -> None:
        try:
            while True:
                reader = media.add_reader("thumbnails", READER_QUEUE)
                try:
                    track, unit = await _newest_keyframe(reader)
                finally:
                    reader.close()
                try:
                    self._latest[stream_id] = await asyncio.to_thread(render_jpeg, track, unit)
                except (ValueError, av.FFmpegError) as exc:
                    log.warning("thumbnail failed: %s", exc, extra={"stream_id": stream_id})
                await asyncio.sleep(self.interval)
        except StreamClosed:
            pass


async def _newest_keyframe(reader: Reader) -> tuple[Track, Unit]:
    track: Track | None = None
    while True:
        item = await reader.get()
        if isinstance(item, StreamConfig):
            track = item.track("video")
        elif track is not None and item.kind == "video" and item.keyframe:
            return track, item
