"""Visible rate limits: a token bucket per key that says how much is left and when to retry.

Unlike :class:`livecast.security.ratelimit.RateLimiter`, which refuses by raising, this one
returns a verdict for every attempt, because every chat acknowledgement shows the user their
remaining budget. :class:`MemoryLimits` keeps the buckets in this process;
:class:`livecast.realtime.ratelimit_redis.RedisLimits` shares them between nodes.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    remaining: int
    retry_after_ms: int


class Limits(Protocol):
    """Token buckets by key; ``now`` is the caller's monotonic time in seconds."""

    async def take(self, key: str, now: float) -> Verdict: ...

    async def peek(self, key: str, now: float) -> Verdict: ...


def verdict(tokens: float, allowed: bool, per_second: float) -> Verdict:
    """What a bucket holding ``tokens`` tells the user: what is left and when to retry."""
    retry = 0 if tokens >= 1 else math.ceil((1 - tokens) / per_second * 1000)
    return Verdict(allowed, int(tokens), retry)


class TokenBuckets:
    """``burst`` attempts at once per key, refilled at ``per_second``; keys are bounded (LRU)."""

    def __init__(self, burst: int, per_second: float, *, max_keys: int = 100_000) -> None:
        self.burst = burst
        self.per_second = per_second
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()  # key -> [tokens, updated]

    def take(self, key: str, now: float) -> Verdict:
        """Spend one token if there is one; the verdict says whether it was allowed."""
        bucket = self._refill(key, now)
        allowed = bucket[0] >= 1
        if allowed:
            bucket[0] -= 1
        return self._verdict(bucket[0], allowed)

    def peek(self, key: str, now: float) -> Verdict:
        bucket = self._refill(key, now)
        return self._verdict(bucket[0], bucket[0] >= 1)

    def _verdict(self, tokens: float, allowed: bool) -> Verdict:
        return verdict(tokens, allowed, self.per_second)

    def _refill(self, key: str, now: float) -> list[float]:
        bucket = self._buckets.pop(key, None) or [float(self.burst), now]
        bucket[0] = min(self.burst, bucket[0] + max(0.0, now - bucket[1]) * self.per_second)
        bucket[1] = now
        self._buckets[key] = bucket
        if len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return bucket


class MemoryLimits:
    """:class:`TokenBuckets` behind the :class:`Limits` interface: one node's buckets."""

    def __init__(self, buckets: TokenBuckets) -> None:
        self.buckets = buckets

    async def take(self, key: str, now: float) -> Verdict:
        return self.buckets.take(key, now)

    async def peek(self, key: str, now: float) -> Verdict:
        return self.buckets.peek(key, now)
