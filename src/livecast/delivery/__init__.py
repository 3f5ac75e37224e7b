"""Delivery: the HTTP origin for HLS and DASH, and playback tokens."""
