"""livecast.protocols."""
