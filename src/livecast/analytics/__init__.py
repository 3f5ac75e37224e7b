"""Analytics: audience summaries, stream snapshots and their rollups, health events, metrics.

docs/analytics.md defines every metric; docs/events.md the health events.
"""
