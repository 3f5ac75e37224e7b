"""livecast.events."""
