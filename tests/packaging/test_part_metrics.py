"""Every LL-HLS part the packager completes is timed in livecast_part_publish_latency_seconds."""

from __future__ import annotations

from tests.packaging.conftest import Node, Tag, feed, until, until_ms


async def test_each_completed_part_is_observed(node: Node, source_tags: list[Tag]) -> None:
    created = await node.create_stream()
    stream, _ = await node.publish(created["stream_key"])
    feed(stream, until_ms(source_tags, 6000))
    packager = node.packager(stream)

    def parts() -> int:
        return sum(
            1
            for rendition in packager.renditions.values()
            for segment in rendition.segments
            for part in segment.parts
            if part.complete
        )

    await until(lambda: parts() >= 20)
    histogram = node.ctx.metrics.part_publish_latency
    count = next(
        s.value for m in histogram.collect() for s in m.samples if s.name.endswith("_count")
    )
    assert count >= parts() >= 20
    # Fed faster than real time: a part is published as soon as its frames are in.
    total = next(s.value for m in histogram.collect() for s in m.samples if s.name.endswith("_sum"))
    assert total / count < 0.333
