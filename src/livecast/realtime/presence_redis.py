"""Presence shared by every node, in Redis; the same rules as :class:`MemoryPresence`.

Per stream ``S`` (keys under ``<prefix>:presence:``):

- ``S:seen``, a sorted set: session id scored by its last sign of life (Unix seconds);
- ``S:keys``, a hash: session id -> viewer key;
- ``S:viewers``, a hash: viewer key -> its live sessions, so ``HLEN`` is the count;
- ``streams``, a set of the streams with sessions, for the sweep.

Each change is one Lua script, so a session expires on exactly one node, which then ends its
row. A chat connection holds its session on the node it is open on: that node refreshes the
session's score at every sweep instead of keeping a hold count in Redis, so a node that dies
lets its sessions expire after the timeout instead of holding them forever.
"""

from __future__ import annotations

import uuid
from collections import Counter

from redis.asyncio import Redis

from livecast.realtime.presence import PresenceSession

_TOUCH = """
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old ~= ARGV[2] then
  if old and redis.call('HINCRBY', KEYS[3], old, -1) <= 0 then redis.call('HDEL', KEYS[3], old) end
  redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[4])
if old then return 0 end
return 1
"""

_LEAVE_ONE = """
local function leave(sid)
  local old = redis.call('HGET', KEYS[2], sid)
  redis.call('ZREM', KEYS[1], sid)
  if not old then return false end
  redis.call('HDEL', KEYS[2], sid)
  if redis.call('HINCRBY', KEYS[3], old, -1) <= 0 then redis.call('HDEL', KEYS[3], old) end
  return old
end
"""

_LEAVE = (
    _LEAVE_ONE
    + """
return leave(ARGV[1]) or ''
"""
)

# ARGV[1]: the cutoff score (now - timeout), ARGV[2]: the stream id; -> {sid, key, sid, key...}
_EXPIRE = (
    _LEAVE_ONE
    + """
local out = {}
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do
  local old = leave(sid)
  if old then table.insert(out, sid); table.insert(out, old) end
end
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('SREM', KEYS[4], ARGV[2]) end
return out
"""
)

_DROP = """
local all = redis.call('HGETALL', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('SREM', KEYS[4], ARGV[1])
return all
"""


class RedisPresence:
    def __init__(self, redis: Redis, prefix: str, timeout: float) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:presence"
        self.timeout = timeout
        self._held: Counter[tuple[uuid.UUID, str]] = Counter()  # chat connections on this node
        self._touch = redis.register_script(_TOUCH)
        self._leave = redis.register_script(_LEAVE)
        self._expire = redis.register_script(_EXPIRE)
        self._drop = redis.register_script(_DROP)

    def _keys(self, stream_id: uuid.UUID) -> list[str]:
        base = f"{self.prefix}:{stream_id}"
        return [f"{base}:seen", f"{base}:keys", f"{base}:viewers", f"{self.prefix}:streams"]

    async def touch(
        self, stream_id: uuid.UUID, session_id: str, viewer_key: str, now: float, hold: int = 0
    ) -> bool:
        self._hold(stream_id, session_id, hold)
        args = [session_id, viewer_key, repr(now), str(stream_id)]
        return bool(await self._touch(keys=self._keys(stream_id), args=args))

    async def release(self, stream_id: uuid.UUID, session_id: str, now: float) -> None:
        self._hold(stream_id, session_id, -1)
        await self.redis.zadd(self._keys(stream_id)[0], {session_id: now}, xx=True)

    async def leave(self, stream_id: uuid.UUID, session_id: str) -> PresenceSession | None:
        self._held.pop((stream_id, session_id), None)
        key = await self._leave(keys=self._keys(stream_id), args=[session_id])
        return PresenceSession(stream_id, session_id, key, 0.0) if key else None

    async def expire(self, now: float) -> list[PresenceSession]:
        await self._refresh_held(now)
        expired: list[PresenceSession] = []
        for raw in await self.redis.smembers(f"{self.prefix}:streams"):
            stream_id = uuid.UUID(str(raw))
            cutoff = repr(now - self.timeout)
            flat = await self._expire(keys=self._keys(stream_id), args=[cutoff, raw])
            expired += _sessions(stream_id, flat, now)
        return expired

    async def count(self, stream_id: uuid.UUID) -> int:
        return int(await self.redis.hlen(self._keys(stream_id)[2]))

    async def drop_stream(self, stream_id: uuid.UUID) -> list[PresenceSession]:
        for key in [k for k in self._held if k[0] == stream_id]:
            del self._held[key]
        flat = await self._drop(keys=self._keys(stream_id), args=[str(stream_id)])
        return _sessions(stream_id, flat, 0.0)

    def _hold(self, stream_id: uuid.UUID, session_id: str, change: int) -> None:
        key = (stream_id, session_id)
        self._held[key] = max(0, self._held[key] + change)
        if not self._held[key]:
            del self._held[key]

    async def _refresh_held(self, now: float) -> None:
        if not self._held:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream_id, session_id in self._held:
                pipe.zadd(self._keys(stream_id)[0], {session_id: now}, xx=True)
            await pipe.execute()


def _sessions(stream_id: uuid.UUID, flat: list[str], now: float) -> list[PresenceSession]:
    return [PresenceSession(stream_id, flat[i], flat[i + 1], now) for i in range(0, len(flat), 2)]
