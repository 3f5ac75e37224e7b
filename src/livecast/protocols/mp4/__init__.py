"""Sans-I/O CMAF fMP4 writer: init segments and movie fragments from media units.

No files, no asyncio: every function returns ``bytes``. One track per init segment; see
:mod:`.timing` for the timescales and :mod:`.fragment` for the sample-duration rules.
"""

from livecast.protocols.mp4.boxes import box, full_box, iter_boxes
from livecast.protocols.mp4.fragment import (
    NON_SYNC_SAMPLE_FLAGS,
    SYNC_SAMPLE_FLAGS,
    Fragmenter,
    Timing,
    fragment,
    sample_timing,
    write_fragment,
)
from livecast.protocols.mp4.init import init_segment
from livecast.protocols.mp4.sample_entry import UnsupportedCodec
from livecast.protocols.mp4.timing import VIDEO_TIMESCALE, to_timescale, track_timescale

__all__ = [
    "NON_SYNC_SAMPLE_FLAGS",
    "SYNC_SAMPLE_FLAGS",
    "VIDEO_TIMESCALE",
    "Fragmenter",
    "Timing",
    "UnsupportedCodec",
    "box",
    "fragment",
    "full_box",
    "init_segment",
    "iter_boxes",
    "sample_timing",
    "to_timescale",
    "track_timescale",
    "write_fragment",
]
