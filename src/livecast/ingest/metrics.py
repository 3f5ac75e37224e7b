"""Prometheus metrics of ingest, read from the live state at scrape time (nothing per unit)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from livecast.ingest.live import LiveStreams
from livecast.ingest.rtmp_server import RtmpServer


class IngestCollector(Collector):
    def __init__(self, live: LiveStreams, rtmp: RtmpServer | None) -> None:
        self.live = live
        self.rtmp = rtmp

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        streams = list(self.live)
        yield GaugeMetricFamily(
            "livecast_live_streams", "Live streams on this node.", value=len(streams)
        )
        yield GaugeMetricFamily(
            "livecast_ingest_publishers",
            "Live streams with a connected publisher.",
            value=sum(1 for live in streams if live.publisher is not None),
        )
        per_stream: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            "video_bitrate_bps": GaugeMetricFamily(
                "livecast_ingest_video_bitrate_bps", "Ingest video bitrate.", labels=["stream_id"]
            ),
            "audio_bitrate_bps": GaugeMetricFamily(
                "livecast_ingest_audio_bitrate_bps", "Ingest audio bitrate.", labels=["stream_id"]
            ),
            "frame_rate": GaugeMetricFamily(
                "livecast_ingest_frame_rate",
                "Ingest video frames per second.",
                labels=["stream_id"],
            ),
            "keyframe_interval_ms": GaugeMetricFamily(
                "livecast_ingest_keyframe_interval_ms",
                "Time between the last two keyframes.",
                labels=["stream_id"],
            ),
            "av_drift_ms": GaugeMetricFamily(
                "livecast_ingest_av_drift_ms",
                "Newest video timestamp minus newest audio timestamp.",
                labels=["stream_id"],
            ),
            "uptime_seconds": GaugeMetricFamily(
                "livecast_ingest_uptime_seconds",
                "Publisher connection uptime.",
                labels=["stream_id"],
            ),
            "reconnects": CounterMetricFamily(
                "livecast_ingest_reconnects", "Publisher reconnects.", labels=["stream_id"]
            ),
            "timestamp_jumps": CounterMetricFamily(
                "livecast_ingest_timestamp_jumps",
                "Timestamps that jumped and were rebased.",
                labels=["stream_id"],
            ),
            "dropped_units": CounterMetricFamily(
                "livecast_ingest_dropped_units",
                "Media the server could not use (no codec config, unsupported codec).",
                labels=["stream_id"],
            ),
            "reader_drops": CounterMetricFamily(
                "livecast_ingest_reader_drops",
                "Units dropped for readers that fell behind.",
                labels=["stream_id"],
            ),
        }
        for live in streams:
            health = live.health()
            for key, family in per_stream.items():
                value = health[key]
                if value is not None:
                    family.add_metric([str(live.id)], float(value))
        yield from per_stream.values()
        if self.rtmp is not None:
            yield from self._rtmp()

    def _rtmp(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        assert self.rtmp is not None
        counters = self.rtmp.counters
        yield GaugeMetricFamily(
            "livecast_rtmp_connections", "Open RTMP connections.", value=len(self.rtmp.connections)
        )
        for name, help_text, value in [
            ("accepted", "RTMP connections accepted.", counters.accepted),
            (
                "refused_over_limit",
                "Connections refused at the limit.",
                counters.refused_over_limit,
            ),
            (
                "protocol_errors",
                "Connections closed for protocol errors.",
                counters.protocol_errors,
            ),
            ("timeouts", "Connections closed by setup or idle timeouts.", counters.timeouts),
            ("publishes_refused", "Publish attempts refused.", counters.publishes_refused),
        ]:
            yield CounterMetricFamily(f"livecast_rtmp_{name}", help_text, value=value)
