"""Prometheus metrics. Each application owns its registry: no process-wide globals.

Counters and histograms that code updates as things happen live here; gauges read from live
state at scrape time are collectors that components register (``ingest/metrics.py``,
``transcode/metrics.py``, ``analytics/metrics.py``). Stream ids appear as labels only on
per-stream gauges, capped by ``LIVECAST_METRICS_MAX_STREAM_LABELS``.
"""

from __future__ import annotations

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
)
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PART_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._collectors: dict[str, Collector] = {}
        ProcessCollector(registry=self.registry)
        for shared in (PLATFORM_COLLECTOR, GC_COLLECTOR):
            # Stateless readers of the interpreter; registering them here shares nothing.
            self.registry.register(shared)
        self.http_requests = Counter(
            "livecast_http_requests",
            "HTTP requests handled, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "livecast_http_request_duration_seconds",
            "Time to handle an HTTP request, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.hls_requests = Counter(
            "livecast_hls_requests",
            "HLS and DASH origin requests, by kind (master, playlist, part, segment, init, mpd)"
            " and status class.",
            ["kind", "status"],
            registry=self.registry,
        )
        self.held_requests = Gauge(
            "livecast_hls_held_requests",
            "Blocking playlist requests held until their part exists.",
            registry=self.registry,
        )
        self.held_release = Histogram(
            "livecast_hls_held_release_seconds",
            "Time to answer all the blocking playlist requests held for a part, from its"
            " completion to the last response written.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.part_publish_latency = Histogram(
            "livecast_part_publish_latency_seconds",
            "Time from the arrival of an LL-HLS part's last frame to the part's publication.",
            buckets=PART_BUCKETS,
            registry=self.registry,
        )
        self.chat_messages = Counter(
            "livecast_chat_messages",
            "Chat comments this node committed to a stream's log.",
            registry=self.registry,
        )
        self.errors = Counter(
            "livecast_errors",
            "Errors, by source: http (5xx answers), stream_health (error and critical health"
            " events), player (errors players reported).",
            ["source"],
            registry=self.registry,
        )

    def use_collector(self, name: str, collector: Collector) -> None:
        """Register ``collector`` under ``name``, replacing the one registered before."""
        previous = self._collectors.pop(name, None)
        if previous is not None:
            self.registry.unregister(previous)
        self.registry.register(collector)
        self._collectors[name] = collector
