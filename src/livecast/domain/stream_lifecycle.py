"""The stream lifecycle state machine, with no I/O.

::

    scheduled ─┬─ start ──▶ live ── end ──▶ ended
      ▲   │    │             ▲
      │ unschedule           │
   schedule   ▼              │
        idle ───── start ────┘
    scheduled, idle ── cancel ──▶ cancelled

``ended`` and ``cancelled`` are final. Every refusal says which transition was refused and why.
"""

from __future__ import annotations

import enum

from livecast.errors import InvalidTransition


class StreamStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    IDLE = "idle"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


class StreamAction(enum.StrEnum):
    SCHEDULE = "schedule"
    UNSCHEDULE = "unschedule"
    START = "start"
    END = "end"
    CANCEL = "cancel"


_TRANSITIONS: dict[tuple[StreamStatus, StreamAction], StreamStatus] = {
    (StreamStatus.IDLE, StreamAction.SCHEDULE): StreamStatus.SCHEDULED,
    (StreamStatus.SCHEDULED, StreamAction.SCHEDULE): StreamStatus.SCHEDULED,
    (StreamStatus.SCHEDULED, StreamAction.UNSCHEDULE): StreamStatus.IDLE,
    (StreamStatus.IDLE, StreamAction.START): StreamStatus.LIVE,
    (StreamStatus.SCHEDULED, StreamAction.START): StreamStatus.LIVE,
    (StreamStatus.LIVE, StreamAction.END): StreamStatus.ENDED,
    (StreamStatus.IDLE, StreamAction.CANCEL): StreamStatus.CANCELLED,
    (StreamStatus.SCHEDULED, StreamAction.CANCEL): StreamStatus.CANCELLED,
}

FINAL_STATES = frozenset({StreamStatus.ENDED, StreamStatus.CANCELLED})


def allowed_actions(status: StreamStatus) -> frozenset[StreamAction]:
    """The actions the state machine accepts from ``status``."""
    return frozenset(action for (source, action) in _TRANSITIONS if source is status)


def transition(status: StreamStatus, action: StreamAction) -> StreamStatus:
    """The status after ``action``, or :class:`InvalidTransition` explaining the refusal."""
    target = _TRANSITIONS.get((status, action))
    if target is None:
        raise InvalidTransition(
            f"Cannot {action} a stream that is {status}: {_reason(status, action)}"
        )
    return target


def _reason(status: StreamStatus, action: StreamAction) -> str:
    if status in FINAL_STATES:
        return f"a stream that is {status} is final; create a new stream instead."
    if status is StreamStatus.LIVE:
        if action is StreamAction.START:
            return "it is already live."
        return "it is live; end it first."
    if action is StreamAction.END:
        return "only a live stream can be ended; cancel it instead."
    if action is StreamAction.UNSCHEDULE:
        return "it has no schedule."
    return "this transition is not part of the stream lifecycle."
