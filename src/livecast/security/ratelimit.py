"""Rate limiting: a token bucket per key, in memory.

Used for auth attempts and, later, stream-key attempts and chat. A multi-node deployment gets
a Redis-backed limiter with the same interface.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from livecast.errors import RateLimited


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Allows ``capacity`` events at once per key, refilled at ``capacity / period`` per second.

    The number of keys tracked is bounded, so a flood of distinct keys cannot exhaust memory:
    the least recently seen key is forgotten first.
    """

    def __init__(
        self,
        capacity: int,
        period_seconds: float,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self._rate = capacity / period_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def hit(self, key: str, what: str = "requests") -> None:
        """Spend one token for ``key`` or raise :class:`RateLimited` saying when to retry."""
        self.check(key, what)
        self._bucket(key).tokens -= 1

    def check(self, key: str, what: str = "requests") -> None:
        """Raise :class:`RateLimited` when ``key`` has no token left, without spending one.

        With :meth:`spend`, this limits only failures: check before trying, spend on failure.
        """
        bucket = self._bucket(key)
        if bucket.tokens < 1:
            retry_after = (1 - bucket.tokens) / self._rate
            raise RateLimited(
                f"Too many {what}; try again in {max(1, round(retry_after))} seconds.",
                retry_after=retry_after,
            )

    def spend(self, key: str) -> None:
        """Spend one token for ``key`` even when none is left (it then owes one)."""
        bucket = self._bucket(key)
        bucket.tokens = max(bucket.tokens - 1, -1.0)

    def _bucket(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.pop(key, None) or _Bucket(float(self.capacity), now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        self._buckets[key] = bucket
        if len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return bucket
