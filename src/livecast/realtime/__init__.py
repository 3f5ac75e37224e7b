"""Realtime engagement: stream rooms over WebSocket, the durable room event log, moderation,
rate limits and viewer presence. See docs/realtime.md for the protocol and the design."""
