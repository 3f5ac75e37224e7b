"""Packaging: live media units into CMAF parts and segments for LL-HLS and DASH."""
