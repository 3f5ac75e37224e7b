"""Events a :class:`~livecast.protocols.rtmp.session.ServerSession` reports to its application."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from livecast.protocols import amf0

__all__ = [
    "Connected",
    "ConnectionFailed",
    "Event",
    "MediaReceived",
    "MetadataReceived",
    "PlayEnded",
    "PlayRequested",
    "PublishEnded",
    "PublishRequested",
]


@dataclass(frozen=True, slots=True)
class Connected:
    """The client sent ``connect`` and was answered NetConnection.Connect.Success."""

    app: str
    tc_url: str | None
    parameters: dict[str, amf0.Value]  # the whole command object (flashVer, swfUrl, …)


@dataclass(frozen=True, slots=True)
class PublishRequested:
    """The client wants to publish; answer with ``accept_publish()`` or ``reject_publish()``."""

    stream_key: str  # the publishing name as sent, query string included
    app: str
    publish_type: str  # "live", "record" or "append"
    stream_id: int


@dataclass(frozen=True, slots=True)
class PublishEnded:
    """The client stopped publishing (FCUnpublish, closeStream or deleteStream)."""

    stream_key: str
    app: str


@dataclass(frozen=True, slots=True)
class PlayRequested:
    """The client wants to play; answer with ``accept_play()`` or ``reject_play()``."""

    name: str
    app: str
    stream_id: int
    start: float  # -2: live or recorded, -1: live only, >= 0: recorded from that second


@dataclass(frozen=True, slots=True)
class PlayEnded:
    """The client stopped playing (closeStream or deleteStream)."""

    name: str
    app: str


@dataclass(frozen=True, slots=True)
class MetadataReceived:
    """The publisher's ``onMetaData`` (sent as ``@setDataFrame`` or directly)."""

    metadata: dict[str, amf0.Value]


@dataclass(frozen=True, slots=True)
class MediaReceived:
    """An audio or video message of the publisher: an FLV tag body and its raw 32-bit RTMP
    timestamp in milliseconds."""

    kind: Literal["audio", "video"]
    timestamp_ms: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class ConnectionFailed:
    """The peer broke the protocol; the session ignores further input and should be closed."""

    reason: str


Event: TypeAlias = (
    Connected
    | PublishRequested
    | PublishEnded
    | PlayRequested
    | PlayEnded
    | MetadataReceived
    | MediaReceived
    | ConnectionFailed
)
