"""The webhook signature: HMAC-SHA256 over ``"<timestamp>.<body>"`` with the webhook's secret.

Receivers recompute it and compare in constant time, and reject a timestamp too far from their
clock, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Livecast-Signature"
TIMESTAMP_HEADER = "X-Livecast-Timestamp"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Livecast-Signature`` value: ``sha256=<hex>``."""
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(
    secret: str, timestamp: int, body: bytes, signature: str, *, now: int, tolerance: int = 300
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
