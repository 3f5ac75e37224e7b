"""livecast.security."""
