"""livecast.domain."""
