"""Time, injected: rate limits, spam windows and presence read it, so tests can move it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for intervals."""
        ...

    def now(self) -> datetime:
        """The wall time, timezone-aware UTC, for what is stored and shown."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)
