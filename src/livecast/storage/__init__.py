"""livecast.storage."""
