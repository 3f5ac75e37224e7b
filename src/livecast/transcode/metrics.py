"""Prometheus metrics of transcoding, read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from livecast.transcode.manager import Transcoders


class TranscodeCollector(Collector):
    def __init__(self, transcoders: Transcoders) -> None:
        self.transcoders = transcoders

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        budget = self.transcoders.budget
        yield GaugeMetricFamily(
            "livecast_transcode_budget_units",
            "Node transcoding budget, in megapixels encoded per second.",
            value=budget.capacity,
        )
        yield GaugeMetricFamily(
            "livecast_transcode_load_units",
            "Transcoding budget in use by running ladders.",
            value=budget.load,
        )
        jobs = list(self.transcoders)
        yield GaugeMetricFamily(
            "livecast_transcode_ladders",
            "Ladders running on this node.",
            value=sum(1 for job in jobs if job.state == "transcoding"),
        )
        yield GaugeMetricFamily(
            "livecast_transcode_waiting",
            "Streams passthrough only because the budget is used.",
            value=sum(1 for job in jobs if job.state == "over_budget"),
        )
        restarts = CounterMetricFamily(
            "livecast_transcode_restarts", "Encoder restarts, by stream.", labels=["stream_id"]
        )
        for job in jobs:
            if job.supervisor is not None:
                restarts.add_metric([job.stream_id], job.supervisor.restarts)
        yield restarts
