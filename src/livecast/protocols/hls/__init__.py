"""Sans-I/O HLS playlist rendering: LL-HLS Media Playlists and Multivariant Playlists."""

from livecast.protocols.hls.media_playlist import (
    ByteRange,
    MediaPlaylist,
    Part,
    RenditionReport,
    Segment,
    ServerControl,
    Skip,
    render_media_playlist,
)
from livecast.protocols.hls.multivariant import AudioRendition, Variant, render_multivariant

__all__ = [
    "AudioRendition",
    "ByteRange",
    "MediaPlaylist",
    "Part",
    "RenditionReport",
    "Segment",
    "ServerControl",
    "Skip",
    "Variant",
    "render_media_playlist",
    "render_multivariant",
]
