"""Helpers of the realtime tests that write to a room's log directly."""

from __future__ import annotations

from typing import Any

from livecast.context import AppContext
from livecast.realtime import eventlog
from livecast.realtime.hub import Hub
from livecast.storage.models import Stream


async def append_comments(ctx: AppContext, hub: Hub, stream: Stream, count: int) -> list[int]:
    """Log ``count`` comments in one transaction and publish them, as a busy room would."""
    async with ctx.sessions() as session:
        tx = await eventlog.open_log(session, stream.id, stream.started_at, hub.clock.now())
        for n in range(count):
            body: dict[str, Any] = {
                "cid": None,
                "user": {"id": None, "name": "bot", "display_name": "Bot"},
                "text": f"bulk {n}",
            }
            tx.append("comment", body, sender="g:bot")
        events = await eventlog.finish_log(session, tx)
        await session.commit()
    await hub.publish(stream.id, stream.user_id, events)
    return [event["seq"] for event in events]


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [event["seq"] for event in events if "seq" in event]
