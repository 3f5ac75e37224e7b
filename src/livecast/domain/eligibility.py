"""Who may go live: a pure rule over the follower count."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Eligibility:
    eligible: bool
    follower_count: int
    required: int
    reason: str | None


def check_eligibility(follower_count: int, required: int) -> Eligibility:
    """Whether a user with ``follower_count`` followers may stream when ``required`` are needed."""
    if follower_count >= required:
        return Eligibility(True, follower_count, required, None)
    noun = "follower" if required == 1 else "followers"
    reason = f"Need {required} {noun} to go live (you have {follower_count})."
    return Eligibility(False, follower_count, required, reason)
