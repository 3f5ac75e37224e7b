"""Chat retention: the room log of a stream that ended long enough ago is deleted.

A live stream's log is never touched, so a reconnecting client's ``since`` always finds its
gap; retention only applies once nobody can resume. The audit log of moderation actions stays.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livecast.realtime.clock import Clock
from livecast.storage.models import RoomEvent, Stream

log = logging.getLogger(__name__)

STREAMS_PER_BATCH = 50  # one transaction per stream, so no delete holds locks for long


async def purge_ended(sessions: async_sessionmaker[AsyncSession], cutoff: datetime) -> int:
    """Delete the room events of streams that ended before ``cutoff``; the rows deleted."""
    deleted = 0
    while True:
        async with sessions() as session:
            ids = list(
                await session.scalars(
                    select(Stream.id)
                    .where(
                        Stream.ended_at < cutoff,
                        select(RoomEvent.seq).where(RoomEvent.stream_id == Stream.id).exists(),
                    )
                    .limit(STREAMS_PER_BATCH)
                )
            )
        if not ids:
            return deleted
        for stream_id in ids:
            async with sessions() as session:
                result = await session.execute(
                    delete(RoomEvent).where(RoomEvent.stream_id == stream_id)
                )
                await session.commit()
            deleted += int(getattr(result, "rowcount", 0) or 0)


async def run_retention(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    keep: timedelta,
    every_seconds: float = 3600,
) -> None:
    """Purge every ``every_seconds`` what is older than ``keep``, until cancelled."""
    while True:
        try:
            deleted = await purge_ended(sessions, clock.now() - keep)
            if deleted:
                log.info("chat retention deleted room events", extra={"rows": deleted})
        except Exception:
            log.exception("chat retention failed; trying again later")
        await asyncio.sleep(every_seconds)
