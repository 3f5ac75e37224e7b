"""Sans-I/O RTMP: handshake, chunk stream, messages and the server session state machine.

Nothing here does I/O; ``livecast.ingest`` runs :class:`ServerSession` over asyncio streams.
"""

from livecast.protocols.rtmp.chunk import ChunkReader, ChunkWriter, Message
from livecast.protocols.rtmp.events import (
    Connected,
    ConnectionFailed,
    Event,
    MediaReceived,
    MetadataReceived,
    PlayEnded,
    PlayRequested,
    PublishEnded,
    PublishRequested,
)
from livecast.protocols.rtmp.session import ServerSession, SessionConfig, SessionState

__all__ = [
    "ChunkReader",
    "ChunkWriter",
    "Connected",
    "ConnectionFailed",
    "Event",
    "MediaReceived",
    "Message",
    "MetadataReceived",
    "PlayEnded",
    "PlayRequested",
    "PublishEnded",
    "PublishRequested",
    "ServerSession",
    "SessionConfig",
    "SessionState",
]
