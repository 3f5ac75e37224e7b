"""Sans-I/O MPEG-DASH manifest rendering: dynamic MPDs while live, static once ended."""

from livecast.protocols.dash.mpd import (
    LIVE_PROFILE,
    UTC_TIMING_HTTP_ISO,
    AdaptationSet,
    Period,
    Presentation,
    Representation,
    SegmentTemplate,
    duration,
    render_mpd,
    timeline,
)

__all__ = [
    "LIVE_PROFILE",
    "UTC_TIMING_HTTP_ISO",
    "AdaptationSet",
    "Period",
    "Presentation",
    "Representation",
    "SegmentTemplate",
    "duration",
    "render_mpd",
    "timeline",
]
