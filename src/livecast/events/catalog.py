"""Domain events that services emit. Later issues add to this catalogue (docs/events.md)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Severity = Literal["info", "warning", "error", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error", "critical")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    stream_id: uuid.UUID
    user_id: uuid.UUID
    occurred_at: datetime = field(default_factory=_now)

    @property
    def type(self) -> str:
        return type(self).__name__

    @property
    def severity(self) -> Severity:
        """How much an operator should care; stored with the event and filterable."""
        return "info"


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamCreated(DomainEvent):
    title: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamUpdated(DomainEvent):
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamStarted(DomainEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamEnded(DomainEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamCancelled(DomainEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRotated(DomainEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomEventsAppended(DomainEvent):
    """Room events committed to a stream's event log, in ``seq`` order, in their wire form.

    The realtime hub fans them out to the stream's room on every node; ``user_id`` is the
    actor, or the streamer for events nobody in particular caused.
    """

    events: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ViewerMilestone(DomainEvent):
    """A stream reached ``viewers`` concurrent viewers (100, 1,000, 10,000) for the first time."""

    viewers: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayerReported(DomainEvent):
    """A player's heartbeat report, for the node that keeps the stream's analytics.

    Sent on a shared bus only (several nodes); not stored. ``user_id`` is the stream's owner.
    """

    session_id: str
    buffering_events: int = 0
    buffering_ms: int = 0
    quality_changes: int = 0
    errors: int = 0
    latency_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ViewersCounted(DomainEvent):
    """A stream's concurrent viewers and peak, as last counted (at most once a second).

    Every node's room shows them; with a shared presence store the count is global.
    """

    viewers: int
    peak: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CommentPosted(DomainEvent):
    """A chat comment was committed to a stream's log (for integrations); ``user_id`` is the
    author, or the streamer for an anonymous comment."""

    seq: int
    text: str
    author: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ModerationAction(DomainEvent):
    """A moderator (``user_id``) or automod acted in a stream's chat: ban, timeout, delete…

    ``automatic`` marks automatic moderation (a comment held for review); ``user_id`` is then
    the channel's owner.
    """

    action: str
    target_user_id: uuid.UUID | None = None
    target_seq: int | None = None
    automatic: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscodeStateChanged(DomainEvent):
    """A stream's ABR ladder changed state; ``rungs`` names the renditions it produces.

    ``state`` is one of waiting_for_source, over_budget, transcoding, restarting, passthrough
    or stopped; ``reason`` says why in a sentence (for a restart, with ffmpeg's last words).
    """

    state: str
    rungs: tuple[str, ...] = ()
    reason: str = ""

    @property
    def severity(self) -> Severity:
        return "warning" if self.state in ("over_budget", "restarting") else "info"


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookDisabled(DomainEvent):
    """A webhook was switched off after ``failures`` consecutive failed attempts.

    ``stream_id`` is the stream of the event whose delivery failed last; ``user_id`` the
    webhook's owner.
    """

    webhook_id: uuid.UUID
    failures: int

    @property
    def severity(self) -> Severity:
        return "warning"


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamHealth(DomainEvent):
    """A stream health condition fired (see docs/events.md): ``kind`` is quality_changed,
    buffer_underflow, connection_lost, connection_restored, high_latency, frame_drop,
    bitrate_change or error (stream_started and stream_ended are :class:`StreamStarted` and
    :class:`StreamEnded`); ``level`` is its severity. ``value`` and ``threshold`` are the
    measurement and the limit it crossed, where there is one.
    """

    kind: str
    level: str = "info"
    detail: str = ""
    value: float | None = None
    threshold: float | None = None

    @property
    def severity(self) -> Severity:
        return self.level if self.level in SEVERITIES else "info"
