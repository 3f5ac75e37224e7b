"""Prometheus gauges of streams, viewers, connections and load, read at scrape time.

Stream ids appear only here, on per-stream gauges, and at most ``metrics_max_stream_labels``
of them: the streams with the most viewers (or bitrate), the rest summed under
``stream_id="other"``; for latency, buffer health and quality, the worst streams.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from livecast.analytics.engine import Analytics

OTHER = "other"


def capped(
    family: GaugeMetricFamily,
    values: Mapping[uuid.UUID, float],
    cap: int,
    *,
    worst_high: bool = True,
    sum_rest: bool = False,
) -> GaugeMetricFamily:
    """Label the ``cap`` streams that matter most; sum the rest as ``other`` if that means
    something (viewers, bitrate), drop them if not (a latency)."""
    ranked = sorted(values.items(), key=lambda item: item[1], reverse=worst_high)
    for stream_id, value in ranked[:cap]:
        family.add_metric([str(stream_id)], value)
    rest = ranked[cap:]
    if sum_rest and rest:
        family.add_metric([OTHER], sum(value for _, value in rest))
    return family


class AnalyticsCollector(Collector):
    def __init__(self, analytics: Analytics) -> None:
        self.analytics = analytics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        a = self.analytics
        cap = a.settings.metrics_max_stream_labels
        local = list(a.live)
        streams = set(a.owners) | {live.id for live in local}
        yield GaugeMetricFamily(
            "livecast_active_streams",
            "Live streams (from the database, plus any this node ingests).",
            value=len(streams),
        )
        viewers = {sid: float(a.hub.viewers.concurrent(sid)) for sid in streams}
        yield capped(
            _per_stream("livecast_viewers", "Concurrent viewers."), viewers, cap, sum_rest=True
        )
        bitrate = {}
        for live in local:
            video, audio, _ = live.stats.rates()
            bitrate[live.id] = video + audio
        yield capped(
            _per_stream("livecast_ingest_bitrate_bits", "Ingest bitrate, bits per second."),
            bitrate,
            cap,
            sum_rest=True,
        )
        yield from self._snapshot_gauges(cap)
        yield GaugeMetricFamily(
            "livecast_ws_connections",
            "Open realtime (chat) WebSocket connections on this node.",
            value=sum(len(room.connections) for room in a.hub.rooms.values()),
        )
        transcoders = a.live.transcoders
        load = 0.0
        if transcoders is not None and transcoders.budget.capacity > 0:
            load = transcoders.budget.load / transcoders.budget.capacity
        yield GaugeMetricFamily(
            "livecast_transcode_load",
            "Share of this node's transcoding budget in use (0 to 1).",
            value=load,
        )

    def _snapshot_gauges(self, cap: int) -> Iterator[GaugeMetricFamily]:
        latest = self.analytics.latest
        latency = {
            sid: row["latency_p95_ms"] / 1000
            for sid, row in latest.items()
            if row["latency_p95_ms"] is not None
        }
        yield capped(
            _per_stream(
                "livecast_stream_latency_p95_seconds",
                "Players' latency behind live, p95 of the last snapshot.",
            ),
            latency,
            cap,
        )
        health = {
            sid: row["buffer_health"]
            for sid, row in latest.items()
            if row["buffer_health"] is not None
        }
        yield capped(
            _per_stream(
                "livecast_stream_buffer_health",
                "Share of watch time not rebuffering in the last snapshot (0 to 1).",
            ),
            health,
            cap,
            worst_high=False,
        )
        score = {sid: row["quality_score"] for sid, row in latest.items()}
        yield capped(
            _per_stream("livecast_stream_quality_score", "Quality score of the last snapshot."),
            score,
            cap,
            worst_high=False,
        )


def _per_stream(name: str, documentation: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=["stream_id"])
