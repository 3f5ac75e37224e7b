"""The pure parts: wire parsing, text rules, rate limits, spam, sampling and presence."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecast.events import redis_bus
from livecast.realtime import protocol
from livecast.realtime.connection import TickFrame
from livecast.realtime.policy import ChatModes, ChatPolicy, Sender
from livecast.realtime.presence import MemoryPresence, Presence
from livecast.realtime.presence_redis import RedisPresence
from livecast.realtime.protocol import ModTimeout, ProtocolViolation
from livecast.realtime.ratelimit import MemoryLimits, TokenBuckets
from livecast.realtime.ratelimit_redis import RedisLimits
from livecast.realtime.spam import SpamDetector
from livecast.realtime.text import BlockedTerms, clean_comment, find_links, is_emote_only
from tests.realtime.conftest import FakeClock


def test_parse_every_client_message() -> None:
    assert protocol.parse('{"type":"comment","text":"hi","cid":"1"}').type == "comment"
    timeout = protocol.parse(
        json.dumps(
            {"v": 1, "type": "mod", "action": "timeout", "user_id": str(uuid.uuid4()), "seconds": 5}
        )
    )
    assert isinstance(timeout, ModTimeout)
    assert timeout.reason == ""
    for bad, code in [
        ("[]", "bad_json"),
        ('{"v":1,"type":"dance"}', "bad_message"),
        ('{"v":1,"type":"mod","action":"timeout","user_id":"x","seconds":5}', "bad_message"),
        (
            json.dumps({"type": "mod", "action": "timeout", "user_id": str(uuid.uuid4())}),
            "bad_message",
        ),
        ('{"v":1,"type":"comment","text":"x","extra":1}', "bad_message"),
        ('{"v":3,"type":"comment","text":"x"}', "unsupported_version"),
    ]:
        with pytest.raises(ProtocolViolation) as caught:
            protocol.parse(bad)
        assert caught.value.code == code


@given(st.text(max_size=300))
def test_parse_never_fails_other_than_by_refusing(text: str) -> None:
    with contextlib.suppress(ProtocolViolation):
        protocol.parse(text)


@given(st.text(max_size=600))
def test_cleaned_comments_have_no_controls_and_no_edge_spaces(raw: str) -> None:
    text = clean_comment(raw)
    assert text == text.strip()
    assert not any(ord(ch) < 32 or ord(ch) == 127 or "\u202a" <= ch <= "\u202e" for ch in text)


def test_text_rules() -> None:
    assert clean_comment("a\u202eb\tc\x00") == "ab c"
    assert is_emote_only("🔥🔥 :pog: 👍🏽")
    assert not is_emote_only("gg 🔥")
    assert find_links("go to https://a.example/x or evil.gg") == ["https://a.example/x", "evil.gg"]
    terms = BlockedTerms(["free*coins", "*spam"])
    assert terms.matches("FREE bitcoins") is False
    assert terms.matches("freebitcoins!")
    assert terms.matches("eggspam")
    assert not terms.matches("spammy")
    assert not BlockedTerms(["***"]).matches("anything")


def test_token_buckets_report_remaining_and_wait() -> None:
    buckets = TokenBuckets(burst=2, per_second=0.5)
    assert [buckets.take("k", 0).remaining for _ in range(2)] == [1, 0]
    refused = buckets.take("k", 0)
    assert not refused.allowed
    assert refused.retry_after_ms == 2000
    assert buckets.take("k", 2).allowed


async def test_redis_token_buckets_are_the_same_buckets(bus_url: tuple[str, str]) -> None:
    url, prefix = bus_url
    if url.startswith("memory://"):
        pytest.skip("the memory variant is the test above")
    clock, client = FakeClock(), redis_bus.connect(url)
    try:
        node_a = RedisLimits(client, f"{prefix}:chat", 2, 0.5, clock)
        node_b = RedisLimits(client, f"{prefix}:chat", 2, 0.5, clock)
        assert (await node_a.take("k", 0)).remaining == 1
        assert (await node_b.take("k", 0)).remaining == 0  # one bucket, whichever node asks
        refused = await node_a.take("k", 0)
        assert not refused.allowed
        assert refused.retry_after_ms == 2000
        assert (await node_b.peek("k", 0)).remaining == 0
        clock.advance(2)
        assert (await node_b.take("k", 0)).allowed
    finally:
        await client.aclose()


def sender(name: str = "carol") -> Sender:
    return Sender(f"u:{name}", uuid.uuid4(), name, name)


async def test_policy_order_identity_content_modes_budget() -> None:
    policy = ChatPolicy(
        ChatModes(slow_mode_seconds=5),
        max_chars=10,
        limits=MemoryLimits(TokenBuckets(5, 1)),
        spam=SpamDetector(),
    )
    wall = datetime(2030, 1, 1, tzinfo=UTC)
    carol = sender()
    assert (await policy.admit(carol, False, "x" * 11, 0, wall)).refusal.reason == "too_long"  # type: ignore[union-attr]
    first = await policy.admit(carol, False, "hello", 0, wall)
    assert first.refusal is None
    assert first.budget.remaining == 0
    assert first.budget.retry_after_ms == 5000
    assert (await policy.admit(carol, False, "again", 1, wall)).refusal.reason == "slow_mode"  # type: ignore[union-attr]
    assert (await policy.admit(carol, True, "as a mod", 1, wall)).refusal is None
    policy.restrictions[carol.user_id] = wall + timedelta(seconds=3)  # type: ignore[index]
    timed_out = (await policy.admit(carol, False, "let me", 10, wall)).refusal
    assert timed_out is not None
    assert timed_out.reason == "timed_out"
    assert timed_out.retry_after_ms == 3000
    guest = Sender("g:x", None, "guest", "guest")
    assert (await policy.admit(guest, False, "hi", 20, wall)).refusal.reason == "login_required"  # type: ignore[union-attr]


def test_spam_rules() -> None:
    spam = SpamDetector()
    spam.record("a", "Hello there", 0)
    assert spam.check("a", "HELLO there", 10) == "repeated"
    assert spam.check("a", "hello there", 31) is None
    assert spam.check("a", "STOP IGNORING MY QUESTION", 40) == "caps"
    assert spam.check("a", "x.com y.com z.com", 40) == "link_spam"


def test_sampled_frames_keep_priority_events_and_count_what_they_skip() -> None:
    events = [{"seq": n, "type": "comment", "text": str(n)} for n in range(1, 9)]
    events.insert(3, {"seq": 100, "type": "ban", "user": {}})
    events.append({"type": "viewer_update", "viewers": 1})
    events.append({"type": "viewer_update", "viewers": 2})
    frame = TickFrame(events)
    assert frame.text(False) is frame.text(False)
    sampled = json.loads(frame.text(True))
    assert sampled["sampled"] is True
    assert sampled["skipped"] == 5
    kinds = [(e["type"], e.get("seq"), e.get("viewers")) for e in sampled["events"]]
    assert kinds == [
        ("ban", 100, None),
        ("comment", 6, None),
        ("comment", 7, None),
        ("comment", 8, None),
        ("viewer_update", None, 2),
    ]
    quiet = TickFrame([{"seq": 1, "type": "pin"}])
    assert quiet.text(True) is quiet.text(False)


@pytest.fixture
async def presence(bus_url: tuple[str, str]) -> AsyncIterator[Presence]:
    """Presence on each backend: in memory, and in Redis under the test's prefix."""
    url, prefix = bus_url
    if url.startswith("memory://"):
        yield MemoryPresence(timeout=30)
        return
    client = redis_bus.connect(url)
    yield RedisPresence(client, prefix, timeout=30)
    await client.aclose()


async def test_presence_counts_viewers_not_tabs(presence: Presence) -> None:
    stream = uuid.uuid4()
    assert await presence.touch(stream, "tab1", "u:1", 0)
    assert await presence.touch(stream, "tab2", "u:1", 0)
    assert not await presence.touch(stream, "tab1", "u:1", 10)
    await presence.touch(stream, "anon", "s:anon", 0, hold=1)
    assert await presence.count(stream) == 2
    assert [s.session_id for s in await presence.expire(30)] == ["tab2"]
    assert await presence.count(stream) == 2
    await presence.touch(stream, "anon", "u:2", 35)  # the guest logged in
    assert await presence.count(stream) == 2
    assert [s.session_id for s in await presence.expire(45)] == ["tab1"]
    await presence.release(stream, "anon", 45)
    assert [s.session_id for s in await presence.expire(75)] == ["anon"]
    assert await presence.count(stream) == 0
