"""Stream summaries, live and final, from what the realtime engine stores.

Viewer sessions (``viewer_sessions``) give views, viewers, concurrency, watch time, retention
and cohorts (see :mod:`livecast.analytics.audience`); the room's event log (``room_events``)
gives chat; ``room_state`` reactions, likes and shares; ``stream_likes`` who liked;
``follows`` the followers gained while the stream was live. docs/analytics.md defines each.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from livecast.analytics.audience import Audience, Visit, audience
from livecast.realtime.protocol import REACTIONS
from livecast.storage.models import (
    Follow,
    RoomEvent,
    RoomState,
    Stream,
    StreamLike,
    StreamSummary,
    ViewerSession,
)

SECONDS_PER_MINUTE = 60


def live_window(stream: Stream, now: datetime) -> tuple[datetime | None, datetime]:
    """When the stream was live: from ``started_at`` to ``ended_at`` (or now, while live)."""
    end = stream.ended_at or now
    return stream.started_at, end


async def stream_audience(db: AsyncSession, stream: Stream, now: datetime) -> Audience:
    start, end = live_window(stream, now)
    rows = (
        await db.execute(
            select(
                ViewerSession.viewer_key,
                ViewerSession.joined_at,
                ViewerSession.left_at,
            ).where(ViewerSession.stream_id == stream.id)
        )
    ).all()
    unique = len({key for key, _, _ in rows})
    if start is None:
        return audience([], 0.0, views=len(rows), unique=unique)
    visits = [
        Visit(
            key,
            max((joined - start).total_seconds(), 0.0),
            (min(left or end, end) - start).total_seconds(),
        )
        for key, joined, left in rows
    ]
    duration = max((end - start).total_seconds(), 0.0)
    return audience(visits, duration, views=len(rows), unique=unique)


async def _chat(db: AsyncSession, stream_id: uuid.UUID) -> tuple[int, set[str]]:
    rows = (
        await db.execute(
            select(RoomEvent.sender, func.count())
            .where(RoomEvent.stream_id == stream_id, RoomEvent.type == "comment")
            .group_by(RoomEvent.sender)
        )
    ).all()
    return sum(int(count) for _, count in rows), {str(sender) for sender, _ in rows if sender}


async def _reactions(db: AsyncSession, stream_id: uuid.UUID) -> tuple[dict[str, int], int, int]:
    state = await db.get(RoomState, stream_id)
    if state is None:
        return dict.fromkeys(REACTIONS, 0), 0, 0
    reactions = {kind: int(getattr(state, f"reaction_{kind}")) for kind in REACTIONS}
    return reactions, int(state.like_count), int(state.share_count)


async def _likers(db: AsyncSession, stream_id: uuid.UUID) -> set[str]:
    users = await db.scalars(select(StreamLike.user_id).where(StreamLike.stream_id == stream_id))
    return {f"u:{user_id}" for user_id in users}


async def _followers_gained(db: AsyncSession, stream: Stream, now: datetime) -> int:
    start, end = live_window(stream, now)
    if start is None:
        return 0
    count = await db.scalar(
        select(func.count())
        .select_from(Follow)
        .where(
            Follow.followee_id == stream.user_id,
            Follow.created_at >= start,
            Follow.created_at < end,
        )
    )
    return int(count or 0)


async def summarize(db: AsyncSession, stream: Stream, now: datetime) -> dict[str, Any]:
    """The stream's summary as JSON values; ``final`` once the stream has ended."""
    found = await stream_audience(db, stream, now)
    start, end = live_window(stream, now)
    duration = (end - start).total_seconds() if start is not None else 0.0
    messages, chatters = await _chat(db, stream.id)
    reactions, likes, shares = await _reactions(db, stream.id)
    engaged = chatters | await _likers(db, stream.id)
    unique = found.unique_viewers
    return {
        "stream_id": str(stream.id),
        "status": stream.status,
        "final": stream.ended_at is not None,
        "started_at": start.isoformat() if start is not None else None,
        "ended_at": stream.ended_at.isoformat() if stream.ended_at is not None else None,
        "duration_seconds": round(duration, 3),
        "total_views": found.views,
        "unique_viewers": unique,
        "peak_concurrent_viewers": found.peak_concurrent,
        "average_concurrent_viewers": found.average_concurrent,
        "median_concurrent_viewers": found.median_concurrent,
        "total_watch_seconds": found.total_watch_seconds,
        "average_watch_seconds": found.average_watch_seconds,
        "chat_messages": messages,
        "unique_chatters": len(chatters),
        "chat_messages_per_minute": (
            round(messages / (duration / SECONDS_PER_MINUTE), 3) if duration > 0 else 0.0
        ),
        "reactions": reactions,
        "likes": likes,
        "shares": shares,
        "followers_gained": await _followers_gained(db, stream, now),
        "engaged_viewers": len(engaged),
        "engagement_rate": round(min(1.0, len(engaged) / unique), 4) if unique else 0.0,
        "retention": [dataclasses.asdict(point) for point in found.retention],
        "cohorts": [
            {**dataclasses.asdict(cohort), "remaining": list(cohort.remaining)}
            for cohort in found.cohorts
        ],
    }


async def read_summary(db: AsyncSession, stream: Stream, now: datetime) -> dict[str, Any]:
    """The stored final summary of an ended stream, or one computed now."""
    stored = await db.get(StreamSummary, stream.id)
    if stored is not None:
        return stored.summary
    return await summarize(db, stream, now)


async def store_final(db: AsyncSession, stream: Stream, now: datetime) -> dict[str, Any]:
    """Compute an ended stream's summary once and keep it (the caller commits)."""
    found = await summarize(db, stream, now)
    stored = await db.get(StreamSummary, stream.id)
    if stored is None:
        db.add(StreamSummary(stream_id=stream.id, computed_at=now, summary=found))
    else:
        stored.summary, stored.computed_at = found, now
    return found


async def creator_summary(
    db: AsyncSession,
    user_id: uuid.UUID,
    start: datetime,
    end: datetime,
    now: datetime,
    limit: int = 500,
) -> dict[str, Any]:
    """Aggregates over the streams ``user_id`` took live in ``[start, end)``, newest first."""
    streams = list(
        await db.scalars(
            select(Stream)
            .where(Stream.user_id == user_id, Stream.started_at >= start, Stream.started_at < end)
            .order_by(Stream.started_at.desc(), Stream.id)
            .limit(limit + 1)
        )
    )
    truncated, streams = len(streams) > limit, streams[:limit]
    found = [await read_summary(db, stream, now) for stream in streams]
    ids = [stream.id for stream in streams]
    unique = await _distinct(db, ViewerSession.viewer_key, ViewerSession.stream_id, ids)
    chatters = await _distinct(
        db, RoomEvent.sender, RoomEvent.stream_id, ids, RoomEvent.type == "comment"
    )
    live = sum(s["duration_seconds"] for s in found)
    watch = sum(s["total_watch_seconds"] for s in found)
    per_stream_unique = sum(s["unique_viewers"] for s in found)
    followers = await db.scalar(
        select(func.count())
        .select_from(Follow)
        .where(Follow.followee_id == user_id, Follow.created_at >= start, Follow.created_at < end)
    )
    return {
        "user_id": user_id,
        "start": start,
        "end": end,
        "streams": len(found),
        "live_seconds": round(live, 3),
        "total_views": sum(s["total_views"] for s in found),
        "unique_viewers": unique,
        "peak_concurrent_viewers": max((s["peak_concurrent_viewers"] for s in found), default=0),
        "average_concurrent_viewers": round(watch / live, 3) if live > 0 else 0.0,
        "total_watch_seconds": round(watch, 3),
        "average_watch_seconds": round(watch / unique, 3) if unique else 0.0,
        "chat_messages": sum(s["chat_messages"] for s in found),
        "unique_chatters": chatters,
        "reactions": {k: sum(s["reactions"].get(k, 0) for s in found) for k in REACTIONS},
        "likes": sum(s["likes"] for s in found),
        "shares": sum(s["shares"] for s in found),
        "followers_gained": int(followers or 0),
        "engagement_rate": (
            round(min(1.0, sum(s["engaged_viewers"] for s in found) / per_stream_unique), 4)
            if per_stream_unique
            else 0.0
        ),
        "items": [_brief(stream, s) for stream, s in zip(streams, found, strict=True)],
        "truncated": truncated,
    }


async def _distinct(
    db: AsyncSession, column: Any, stream_column: Any, ids: list[uuid.UUID], *where: Any
) -> int:
    if not ids:
        return 0
    count = await db.scalar(
        select(func.count(func.distinct(column))).where(stream_column.in_(ids), *where)
    )
    return int(count or 0)


def _brief(stream: Stream, found: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "started_at",
        "ended_at",
        "final",
        "duration_seconds",
        "unique_viewers",
        "peak_concurrent_viewers",
        "total_watch_seconds",
        "chat_messages",
        "engagement_rate",
    )
    return {"stream_id": stream.id, "title": stream.title, **{k: found[k] for k in keys}}
