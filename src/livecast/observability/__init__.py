"""livecast.observability."""
