"""livecast.media."""
