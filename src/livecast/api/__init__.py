"""livecast.api."""
