"""Chat rate limits shared by every node: one token bucket per key in a Redis hash.

The bucket ``<prefix>:<key>`` holds ``t`` (tokens) and ``u`` (when it was last refilled, Unix
seconds); one Lua script refills and spends atomically, so two nodes never spend the same
token. Time is the wall clock (``Clock.now``), because each process's monotonic clock starts
somewhere else; a clock that steps back refills nothing. Idle buckets expire once full.
"""

from __future__ import annotations

import math

from redis.asyncio import Redis

from livecast.realtime.clock import Clock
from livecast.realtime.ratelimit import Verdict, verdict

_BUCKET = """
local burst, rate, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local bucket = redis.call('HMGET', KEYS[1], 't', 'u')
local tokens = tonumber(bucket[1]) or burst
local updated = tonumber(bucket[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - updated) * rate)
local allowed = 0
if tokens >= 1 then
  allowed = 1
  if ARGV[4] == '1' then tokens = tokens - 1 end
end
local function exact(x) return string.format('%.17g', x) end  -- tostring() keeps 14 digits
redis.call('HSET', KEYS[1], 't', exact(tokens), 'u', exact(math.max(now, updated)))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {allowed, exact(tokens)}
"""


class RedisLimits:
    def __init__(
        self, redis: Redis, prefix: str, burst: int, per_second: float, clock: Clock
    ) -> None:
        self.prefix = prefix
        self.burst = burst
        self.per_second = per_second
        self.clock = clock
        self._script = redis.register_script(_BUCKET)
        self._ttl_ms = math.ceil(burst / per_second * 1000) + 1000

    async def take(self, key: str, now: float) -> Verdict:
        return await self._run(key, spend=True)

    async def peek(self, key: str, now: float) -> Verdict:
        return await self._run(key, spend=False)

    async def _run(self, key: str, *, spend: bool) -> Verdict:
        wall = self.clock.now().timestamp()
        args: list[str | float] = [
            self.burst,
            self.per_second,
            repr(wall),
            "1" if spend else "0",
            self._ttl_ms,
        ]
        allowed, tokens = await self._script(keys=[f"{self.prefix}:{key}"], args=args)
        return verdict(float(tokens), bool(allowed), self.per_second)
