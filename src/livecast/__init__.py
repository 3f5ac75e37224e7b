"""livecast: an open, self-hosted live streaming platform."""

__version__ = "0.1.0"
