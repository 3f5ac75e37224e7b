from __future__ import annotations

import pytest

from tests.protocols.mp4.media import Source, source


@pytest.fixture(scope="session")
def clip() -> Source:
    """Two seconds of H.264 (B-frames, a keyframe every second) and AAC, as ingest sees them."""
    return source(2, "h264")
