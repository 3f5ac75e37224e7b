"""The node's transcoding budget, in cost units: megapixels encoded per second.

A 1080p30 four-rung ladder (1080p, 720p, 480p, 360p) costs about 109 units; this 2-core
machine encodes it at about 1.5x real time, so a core is worth about 60 units with headroom left
for the rest of livecast. A stream whose ladder does not fit waits, passthrough only, and is
admitted in arrival order when budget frees.
"""

from __future__ import annotations

import os
from collections.abc import Hashable

UNITS_PER_CORE = 60.0


def default_budget() -> float:
    return UNITS_PER_CORE * (os.cpu_count() or 1)


class Budget:
    def __init__(self, capacity: float) -> None:
        self.capacity = capacity
        self._held: dict[Hashable, float] = {}

    @property
    def load(self) -> float:
        return sum(self._held.values())

    @property
    def holders(self) -> int:
        return len(self._held)

    def fits(self, cost: float) -> bool:
        return self.load + cost <= self.capacity

    def acquire(self, key: Hashable, cost: float) -> bool:
        """Reserve ``cost`` for ``key`` if it fits (replacing what ``key`` held)."""
        held = self._held.pop(key, 0.0)
        if self.fits(cost):
            self._held[key] = cost
            return True
        if held:
            self._held[key] = held
        return False

    def release(self, key: Hashable) -> bool:
        """Free what ``key`` held; True when it held something."""
        return self._held.pop(key, None) is not None
