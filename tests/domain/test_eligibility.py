from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from livecast.domain.eligibility import check_eligibility


def test_message_reads_like_a_sentence() -> None:
    verdict = check_eligibility(45, 50)
    assert not verdict.eligible
    assert verdict.reason == "Need 50 followers to go live (you have 45)."
    assert check_eligibility(0, 1).reason == "Need 1 follower to go live (you have 0)."


@given(st.integers(0, 10**6), st.integers(0, 10**6))
def test_eligible_exactly_when_enough_followers(followers: int, required: int) -> None:
    verdict = check_eligibility(followers, required)
    assert verdict.eligible is (followers >= required)
    assert (verdict.reason is None) is verdict.eligible
