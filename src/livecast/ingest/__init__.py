"""Ingest: protocol servers that turn publishers' connections into live Streams."""
