"""Stream fan-out: late join at the last keyframe, slow readers dropping to the next keyframe,
config ordering, closing and removal, the drop summary, and the registry."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging

import pytest

from livecast.errors import Conflict
from livecast.media.stream import (
    Reader,
    Stream,
    StreamClosed,
    StreamConfig,
    StreamOptions,
    StreamRegistry,
)
from livecast.media.unit import Track, Unit

VIDEO = Track("video", "h264", "avc1.64001f", b"\x01\x64\x00\x1f", width=1280, height=720)
AUDIO = Track("audio", "aac", "mp4a.40.2", b"\x12\x10", sample_rate=44100, channels=2)
TIMEOUT = 5


def video(dts: int, keyframe: bool = False, size: int = 100) -> Unit:
    return Unit("video", "h264", dts, dts, keyframe, bytes(size), media_time_ms=dts)


def audio(dts: int) -> Unit:
    return Unit("audio", "aac", dts, dts, True, b"\x21\x00", media_time_ms=dts)


def queued(reader: Reader) -> list[Unit | StreamConfig]:
    """Take everything the reader holds now, without waiting."""
    items = []
    with contextlib.suppress(asyncio.QueueEmpty):
        while True:
            items.append(reader.get_nowait())
    return items


async def drain(reader: Reader) -> list[Unit | StreamConfig]:
    """Every item until the stream ends."""
    return [item async for item in reader]


def test_write_is_synchronous() -> None:
    assert not inspect.iscoroutinefunction(Stream.write)


def test_late_joiner_gets_config_then_starts_at_last_keyframe() -> None:
    stream = Stream("s")
    stream.set_tracks([VIDEO, AUDIO])
    stream.set_metadata({"encoder": "obs"})
    units = [video(0, True), audio(10), video(40), video(80, True), audio(90), video(120)]
    for unit in units:
        stream.write(unit)

    reader = stream.add_reader("hls")
    config, *rest = queued(reader)
    assert config == StreamConfig((VIDEO, AUDIO), {"encoder": "obs"})
    assert config.track("video") == VIDEO
    assert rest == units[3:]


def test_reader_before_first_keyframe_starts_at_it() -> None:
    stream = Stream("s")
    stream.set_tracks([VIDEO, AUDIO])
    reader = stream.add_reader("early")
    reader.get_nowait()  # the config
    stream.write(audio(0))
    stream.write(video(0))
    stream.write(video(40, True))
    stream.write(audio(50))
    assert queued(reader) == [video(40, True), audio(50)]
    assert reader.dropped == 0  # waiting for the first keyframe is not dropping


def test_audio_only_stream_starts_at_newest_unit() -> None:
    stream = Stream("radio")
    stream.set_tracks([AUDIO])
    for dts in (0, 23, 46):
        stream.write(audio(dts))
    reader = stream.add_reader("late")
    assert queued(reader) == [StreamConfig((AUDIO,)), audio(46)]


def test_slow_reader_drops_to_next_keyframe_and_counts() -> None:
    stream = Stream("s")
    stream.set_tracks([VIDEO, AUDIO])
    reader = stream.add_reader("slow", maxsize=3)
    reader.get_nowait()  # the config
    for unit in (video(0, True), video(40), video(80)):
        stream.write(unit)  # fills the queue
    for unit in (video(120), audio(130), video(160), video(200, True)):
        stream.write(unit)  # no room, and no room again at the keyframe: all dropped
    assert reader.dropped == 4
    assert reader.qsize == 3

    reader.get_nowait()  # room again, but a P-frame or audio cannot restart the reader
    reader.get_nowait()
    stream.write(video(240))
    stream.write(audio(250))
    assert reader.dropped == 6
    stream.write(video(280, True))
    stream.write(audio(290))
    assert queued(reader) == [video(80), video(280, True), audio(290)]
    assert reader.dropped == 6
    assert stream.take_drop_summary() == {"slow": 6}
    assert stream.take_drop_summary() == {}


def test_audio_only_reader_drops_just_what_does_not_fit() -> None:
    stream = Stream("radio")
    stream.set_tracks([AUDIO])
    reader = stream.add_reader("slow", maxsize=2)
    for dts in (0, 23, 46):
        stream.write(audio(dts))
    reader.get_nowait()  # config
    reader.get_nowait()
    stream.write(audio(69))
    assert queued(reader) == [audio(23), audio(69)]
    assert reader.dropped == 1


def test_publisher_is_never_blocked_by_a_stalled_reader() -> None:
    stream = Stream("s")
    stalled = stream.add_reader("stalled", maxsize=8)
    for index in range(10_000):
        stream.write(video(index * 40, keyframe=index % 50 == 0))
    assert stalled.qsize <= 8
    assert stalled.dropped > 9_000
    assert stream.units_written == 10_000


async def test_waiting_reader_wakes_on_write() -> None:
    stream = Stream("s")
    reader = stream.add_reader("r")
    pending = asyncio.create_task(reader.get())
    # Callbacks run in FIFO order: the task starts waiting on the empty queue, then the write.
    asyncio.get_running_loop().call_soon(stream.write, video(0, True))
    assert await asyncio.wait_for(pending, TIMEOUT) == video(0, True)


async def test_many_readers_each_get_every_unit_in_order() -> None:
    stream = Stream("s")
    readers = [stream.add_reader(f"r{i}", maxsize=1000) for i in range(50)]
    tasks = [asyncio.create_task(drain(reader)) for reader in readers]
    units = [video(i * 40, keyframe=i % 25 == 0) for i in range(500)]
    for unit in units:
        stream.write(unit)
    stream.close()
    results = await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT)
    assert all(result == units for result in results)


async def test_get_batch() -> None:
    stream = Stream("s")
    reader = stream.add_reader("r")
    for i in range(5):
        stream.write(video(i * 40, keyframe=i == 0))
    assert len(await reader.get_batch(3)) == 3
    assert len(await reader.get_batch(3)) == 2


async def test_close_delivers_queued_items_then_ends_readers() -> None:
    stream = Stream("s")
    stream.set_tracks([VIDEO])
    reader = stream.add_reader("r")
    task = asyncio.create_task(drain(reader))
    stream.write(video(0, True))
    stream.close()
    assert await asyncio.wait_for(task, TIMEOUT) == [StreamConfig((VIDEO,)), video(0, True)]
    with pytest.raises(StreamClosed):
        await reader.get()
    with pytest.raises(StreamClosed):
        reader.get_nowait()
    with pytest.raises(StreamClosed):
        stream.write(video(40))
    with pytest.raises(StreamClosed):
        stream.add_reader("too late")


async def test_removed_reader_ends_at_once() -> None:
    stream = Stream("s")
    reader = stream.add_reader("r", maxsize=1)
    other = stream.add_reader("other")
    stream.write(video(0, True))
    stream.write(video(40))  # dropped by "r"
    waiting = asyncio.create_task(other.get_batch(10))
    reader.close()
    with pytest.raises(StreamClosed):
        await asyncio.wait_for(reader.get(), TIMEOUT)
    assert stream.readers == (other,)
    assert stream.take_drop_summary() == {"r": 1}
    assert len(await asyncio.wait_for(waiting, TIMEOUT)) == 2
    stream.remove_reader(reader)  # twice is harmless


def test_config_changes_reach_readers_in_order_and_coalesce() -> None:
    stream = Stream("s")
    reader = stream.add_reader("r")
    stream.set_tracks([VIDEO])
    stream.write(video(0, True))
    stream.set_metadata({"a": 1})
    stream.set_metadata({"a": 2})
    stream.set_tracks([VIDEO])  # unchanged: nothing new to say
    assert queued(reader) == [
        StreamConfig((VIDEO,)),
        video(0, True),
        StreamConfig((VIDEO,), {"a": 2}),
    ]


def test_new_tracks_restart_the_gop_cache() -> None:
    stream = Stream("s")
    stream.set_tracks([VIDEO])
    stream.write(video(0, True))
    stream.set_tracks([VIDEO, AUDIO])
    stream.write(video(40))
    reader = stream.add_reader("r")
    assert queued(reader) == [StreamConfig((VIDEO, AUDIO))]
    stream.write(video(80, True))
    assert queued(reader) == [video(80, True)]


@pytest.mark.parametrize(
    "options", [StreamOptions(gop_max_units=3), StreamOptions(gop_max_bytes=350)]
)
def test_oversized_gop_is_not_cached(options: StreamOptions) -> None:
    stream = Stream("s", options)
    for i in range(4):
        stream.write(video(i * 40, keyframe=i == 0))
    reader = stream.add_reader("r")
    assert queued(reader) == []
    stream.write(video(160, True))
    assert queued(reader) == [video(160, True)]


def test_gop_larger_than_reader_queue_waits_for_next_keyframe() -> None:
    stream = Stream("s")
    for i in range(4):
        stream.write(video(i * 40, keyframe=i == 0))
    reader = stream.add_reader("small", maxsize=2)
    assert queued(reader) == []
    stream.write(video(160, True))
    assert queued(reader) == [video(160, True)]
    assert reader.dropped == 0


def test_drops_are_logged_as_a_periodic_summary(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    stream = Stream("s", StreamOptions(drop_log_interval=10.0), clock=lambda: now[0])
    stream.add_reader("slow", maxsize=1)
    stream.add_reader("fine", maxsize=100)
    with caplog.at_level(logging.WARNING, logger="livecast.media.stream"):
        for i in range(50):
            stream.write(video(i * 40, keyframe=i == 0))
        assert caplog.records == []
        now[0] = 10.0
        stream.write(video(2000))
        stream.write(video(2040))
        stream.close()
    assert [r.getMessage() for r in caplog.records] == [
        "stream s: readers too slow, units dropped: slow=50",
        "stream s: readers too slow, units dropped: slow=1",
    ]


def test_registry() -> None:
    registry = StreamRegistry(StreamOptions(reader_maxsize=7))
    stream = registry.create("abc")
    assert registry.get("abc") is stream
    assert "abc" in registry
    assert list(registry) == [stream]
    assert stream.add_reader("r").maxsize == 7
    with pytest.raises(Conflict):
        registry.create("abc")
    stream.close()  # a closed stream counts as gone, and can be created anew
    assert registry.get("abc") is None
    again = registry.create("abc")
    assert again is not stream
    registry.remove("abc")
    assert again.closed
    assert len(registry) == 0
    registry.remove("abc")


async def test_config_change_waits_for_a_new_config_and_ends_with_the_stream() -> None:
    stream = Stream("s")
    waiting = asyncio.create_task(stream.config_change())
    await asyncio.sleep(0)
    assert not waiting.done()  # nothing announced yet
    stream.set_tracks([VIDEO])
    first = await asyncio.wait_for(waiting, 1)
    assert first.track("video") == VIDEO
    again = asyncio.create_task(stream.config_change(first))
    stream.write(video(0, keyframe=True))
    await asyncio.sleep(0)
    assert not again.done()  # units are not config changes
    smaller = Track("video", "h264", "avc1.64001e", b"\x01\x64\x00\x1e", width=640, height=360)
    stream.set_tracks([smaller])
    assert (await asyncio.wait_for(again, 1)).track("video") == smaller
    last = asyncio.create_task(stream.config_change(stream.config))
    stream.close()
    with pytest.raises(StreamClosed):
        await asyncio.wait_for(last, 1)
