"""Response bodies of the analytics endpoints; docs/analytics.md defines every field."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class RetentionPointOut(BaseModel):
    minute: int
    viewers: int = Field(description="Viewers who watched at least this many minutes.")
    share: float = Field(description="Those viewers as a share of all unique viewers (0 to 1).")


class CohortOut(BaseModel):
    minute: int = Field(description="The stream minute these viewers first joined in.")
    joined: int
    remaining: list[int] = Field(
        description="How many of them watched during minute `minute`, `minute + 1`, … to the end."
    )


class SummaryOut(BaseModel):
    stream_id: uuid.UUID
    status: str
    final: bool = Field(description="True once the stream has ended: the numbers are final.")
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float = Field(description="Live time so far, or in all once ended.")
    total_views: int = Field(description="Viewer sessions (a player or chat page load each).")
    unique_viewers: int = Field(description="Distinct viewers: users, or anonymous sessions.")
    peak_concurrent_viewers: int
    average_concurrent_viewers: float = Field(description="Time-weighted, over the live time.")
    median_concurrent_viewers: int = Field(description="Time-weighted median over the live time.")
    total_watch_seconds: float = Field(description="Σ over viewers of the time they watched.")
    average_watch_seconds: float = Field(description="total_watch_seconds / unique_viewers.")
    chat_messages: int
    unique_chatters: int
    chat_messages_per_minute: float
    reactions: dict[str, int] = Field(description="Reaction taps by kind.")
    likes: int
    shares: int
    followers_gained: int = Field(description="Follows of the streamer made while live.")
    engaged_viewers: int = Field(description="Distinct people who chatted or liked.")
    engagement_rate: float = Field(description="engaged_viewers / unique_viewers, at most 1.")
    retention: list[RetentionPointOut]
    cohorts: list[CohortOut]


class PointOut(BaseModel):
    """One bucket of the time series; null where no snapshot of the bucket had the value."""

    time: datetime = Field(description="The bucket's start.")
    samples: int = Field(description="Snapshots in the bucket (an hourly rollup counts its own).")
    viewers: float | None = Field(description="Average concurrent viewers.")
    viewers_peak: float | None
    egress_bps: float | None = Field(description="Estimated egress: viewers x ingest bitrate.")
    ingest_bitrate_bps: float | None
    frame_rate: float | None
    dropped_frames: float | None = Field(description="Sum over the bucket.")
    keyframe_interval_ms: float | None
    av_sync_ms: float | None = Field(description="Video minus audio timestamp, average.")
    heartbeats: float | None = Field(description="Player heartbeats received, sum.")
    buffer_health: float | None = Field(description="Share of watch time not rebuffering.")
    rebuffer_events: float | None = Field(description="Sum over the bucket.")
    latency_avg_ms: float | None
    latency_p95_ms: float | None = Field(description="The highest snapshot p95 in the bucket.")
    errors: float | None = Field(description="Sum over the bucket.")
    quality_score: float | None = Field(description="0 to 100; see docs/analytics.md.")


class StreamAnalyticsOut(BaseModel):
    stream_id: uuid.UUID
    start: datetime = Field(description="The series' first instant (inclusive).")
    end: datetime = Field(description="The series' last instant (exclusive).")
    interval_seconds: int
    series: list[PointOut]
    summary: SummaryOut


class StreamBriefOut(BaseModel):
    stream_id: uuid.UUID
    title: str
    started_at: datetime | None
    ended_at: datetime | None
    final: bool
    duration_seconds: float
    unique_viewers: int
    peak_concurrent_viewers: int
    total_watch_seconds: float
    chat_messages: int
    engagement_rate: float


class UserAnalyticsOut(BaseModel):
    user_id: uuid.UUID
    start: datetime
    end: datetime
    streams: int = Field(description="Streams that went live in the period.")
    live_seconds: float
    total_views: int
    unique_viewers: int = Field(description="Distinct viewers across those streams.")
    peak_concurrent_viewers: int = Field(description="The highest peak of any of them.")
    average_concurrent_viewers: float = Field(description="Σ watch time / Σ live time.")
    total_watch_seconds: float
    average_watch_seconds: float = Field(description="total_watch_seconds / unique_viewers.")
    chat_messages: int
    unique_chatters: int = Field(description="Distinct chatters across those streams.")
    reactions: dict[str, int]
    likes: int
    shares: int
    followers_gained: int = Field(description="Follows of the user made during the period.")
    engagement_rate: float = Field(description="Σ engaged viewers / Σ unique viewers per stream.")
    items: list[StreamBriefOut] = Field(description="The streams, newest first.")
    truncated: bool = Field(description="True when more streams than listed went live.")
