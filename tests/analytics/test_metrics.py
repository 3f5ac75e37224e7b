"""/metrics parses with prometheus_client's parser and carries the names operators alert on."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from livecast.analytics.engine import Analytics
from livecast.context import AppContext
from livecast.events.catalog import RoomEventsAppended
from livecast.settings import Settings
from tests.analytics.conftest import beat
from tests.realtime.conftest import FakeClock, Person


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics_max_stream_labels": 1})


def samples(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    types = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    found["__types__"] = {((name, kind),): 0.0 for name, kind in types.items()}
    return found


async def test_metrics_parse_and_cap_stream_labels(
    ctx: AppContext,
    analytics: Analytics,
    client: httpx.AsyncClient,
    clock: FakeClock,
    person: Any,
    stream: Any,
    go_live: Any,
) -> None:
    alice: Person = await person("alice")
    busy, quiet = await stream(alice, "busy"), await stream(alice, "quiet")
    for show in (busy, quiet):
        await go_live(show.id)
    await beat(client, busy.id, "viewer-00001", latency_ms=2500)
    await beat(client, busy.id, "viewer-00002", errors=2)
    await beat(client, quiet.id, "viewer-00003")
    comment = {"seq": 1, "type": "comment", "text": "hi", "user": {"id": None, "name": "g"}}
    await ctx.bus.publish(
        RoomEventsAppended(stream_id=busy.id, user_id=alice.id, events=(comment,))
    )
    assert (await client.get(f"/hls/{uuid.uuid4()}/master.m3u8")).status_code == 404
    await analytics.tick()
    clock.advance(10)
    await analytics.tick()  # a snapshot: the latency and quality gauges

    response = await client.get("/metrics")
    assert response.status_code == 200
    found = samples(response.text)
    types = {key[0] for key in found["__types__"]}
    assert found["livecast_active_streams"] == {(): 2}
    assert found["livecast_viewers"] == {
        (("stream_id", str(busy.id)),): 2,
        (("stream_id", "other"),): 1,
    }
    assert found["livecast_stream_latency_p95_seconds"] == {(("stream_id", str(busy.id)),): 2.5}
    assert ("livecast_ingest_bitrate_bits", "gauge") in types
    assert found["livecast_ws_connections"] == {(): 0}
    assert found["livecast_transcode_load"] == {(): 0}
    assert found["livecast_chat_messages_total"] == {(): 1}
    assert found["livecast_errors_total"] == {(("source", "player"),): 2}
    assert found["livecast_hls_requests_total"] == {(("kind", "master"), ("status", "4xx")): 1}
    assert ("livecast_part_publish_latency_seconds", "histogram") in types
    assert found["livecast_part_publish_latency_seconds_count"] == {(): 0}
    assert "process_cpu_seconds_total" in found
    assert "process_resident_memory_bytes" in found
