"""Presence: which viewer sessions are alive, and how many distinct viewers that makes.

A session is alive while it sends heartbeats (a player, every 10 s) or while a chat connection
holds it; it ends after ``timeout`` seconds of silence. Viewers are counted by viewer key (the
user, or for anonymous viewers the session), so one viewer with three tabs counts once. Pure,
with the time (wall-clock Unix seconds, so that nodes agree) passed in. :class:`MemoryPresence`
counts one node's viewers; :class:`livecast.realtime.presence_redis.RedisPresence` counts
every node's.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Protocol


@dataclass(slots=True)
class PresenceSession:
    stream_id: uuid.UUID
    session_id: str
    viewer_key: str
    last_seen: float
    holds: int = 0  # open chat connections that keep it alive


class Presence(Protocol):
    async def touch(
        self, stream_id: uuid.UUID, session_id: str, viewer_key: str, now: float, hold: int = 0
    ) -> bool: ...

    async def release(self, stream_id: uuid.UUID, session_id: str, now: float) -> None: ...

    async def leave(self, stream_id: uuid.UUID, session_id: str) -> PresenceSession | None: ...

    async def expire(self, now: float) -> list[PresenceSession]: ...

    async def count(self, stream_id: uuid.UUID) -> int: ...

    async def drop_stream(self, stream_id: uuid.UUID) -> list[PresenceSession]: ...


class MemoryPresence:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._sessions: dict[tuple[uuid.UUID, str], PresenceSession] = {}
        self._viewers: dict[uuid.UUID, Counter[str]] = {}

    async def touch(
        self, stream_id: uuid.UUID, session_id: str, viewer_key: str, now: float, hold: int = 0
    ) -> bool:
        """A sign of life; ``hold`` +1/-1 when a chat connection opens or closes on it.

        Returns whether the session is new (or had ended).
        """
        key = (stream_id, session_id)
        session = self._sessions.get(key)
        new = session is None
        if session is None:
            session = PresenceSession(stream_id, session_id, viewer_key, now)
            self._sessions[key] = session
            self._add(stream_id, viewer_key)
        elif session.viewer_key != viewer_key:  # an anonymous session logged in
            self._remove(stream_id, session.viewer_key)
            self._add(stream_id, viewer_key)
            session.viewer_key = viewer_key
        session.last_seen = now
        session.holds = max(0, session.holds + hold)
        return new

    async def release(self, stream_id: uuid.UUID, session_id: str, now: float) -> None:
        """A chat connection holding the session closed; heartbeats may keep it alive."""
        session = self._sessions.get((stream_id, session_id))
        if session is not None:
            session.holds = max(0, session.holds - 1)
            session.last_seen = now

    async def leave(self, stream_id: uuid.UUID, session_id: str) -> PresenceSession | None:
        session = self._sessions.pop((stream_id, session_id), None)
        if session is not None:
            self._remove(stream_id, session.viewer_key)
        return session

    async def expire(self, now: float) -> list[PresenceSession]:
        """End the sessions silent for longer than the timeout, and return them."""
        expired = [
            s for s in self._sessions.values() if not s.holds and now - s.last_seen >= self.timeout
        ]
        for session in expired:
            await self.leave(session.stream_id, session.session_id)
        return expired

    async def count(self, stream_id: uuid.UUID) -> int:
        return len(self._viewers.get(stream_id, ()))

    async def drop_stream(self, stream_id: uuid.UUID) -> list[PresenceSession]:
        dropped = [s for s in self._sessions.values() if s.stream_id == stream_id]
        for session in dropped:
            await self.leave(stream_id, session.session_id)
        return dropped

    def streams(self) -> set[uuid.UUID]:
        return set(self._viewers)

    def _add(self, stream_id: uuid.UUID, viewer_key: str) -> None:
        self._viewers.setdefault(stream_id, Counter())[viewer_key] += 1

    def _remove(self, stream_id: uuid.UUID, viewer_key: str) -> None:
        viewers = self._viewers.get(stream_id)
        if viewers is None:
            return
        viewers[viewer_key] -= 1
        if viewers[viewer_key] <= 0:
            del viewers[viewer_key]
        if not viewers:
            del self._viewers[stream_id]
