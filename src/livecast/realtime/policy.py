"""Who may say what in a room, decided in memory, before anything reaches the database.

The checks that need fresh shared state (bans from another node, follow age) run again in the
writer's transaction; these are the fast ones, and they give the user a precise reason.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from livecast.realtime.ratelimit import Limits, Verdict
from livecast.realtime.spam import DROPPED, SpamDetector
from livecast.realtime.text import BlockedTerms, clean_comment, find_links, is_emote_only

Reason = Literal[
    "login_required",
    "banned",
    "timed_out",
    "empty",
    "too_long",
    "followers_only",
    "subscribers_only",
    "emote_only",
    "rate_limited",
    "slow_mode",
    "blocked_term",
    "links_blocked",
    "duplicate_message",
    "flooding",
    "held_for_review",
    "forbidden",
    "not_found",
    "invalid",
    "conflict",
    "unavailable",
]


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: Reason
    detail: str
    retry_after_ms: int = 0
    hold: str | None = None  # why spam detection held the comment for review


@dataclass(frozen=True, slots=True)
class ChatModes:
    anonymous_chat: bool = False
    slow_mode_seconds: int = 0
    followers_only: bool = False
    followers_min_age_minutes: int = 0
    subscribers_only: bool = False
    emote_only: bool = False
    block_links: bool = False
    blocked_terms: tuple[str, ...] = ()

    def public(self) -> dict[str, Any]:
        """The modes as every viewer sees them: blocked terms stay private to moderators."""
        shown = asdict(self)
        del shown["blocked_terms"]
        return shown


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sends: a user (``key`` ``u:<id>``) or an anonymous guest (``g:<session>``)."""

    key: str
    user_id: uuid.UUID | None
    name: str
    display_name: str
    site_admin: bool = False

    @property
    def anonymous(self) -> bool:
        return self.user_id is None

    def author(self) -> dict[str, Any]:
        user_id = str(self.user_id) if self.user_id else None
        return {"id": user_id, "name": self.name, "display_name": self.display_name}


def ms_until(moment: datetime, now: datetime) -> int:
    """Whole milliseconds from ``now`` until ``moment``, rounded up, never negative."""
    return max(0, math.ceil((moment - now).total_seconds() * 1000))


def is_subscriber(sender: Sender) -> bool:
    """Subscriptions arrive with a later issue; until then nobody is a subscriber, so
    subscribers-only mode leaves the chat to the streamer and moderators."""
    return False


@dataclass(slots=True)
class Admission:
    text: str
    refusal: Refusal | None
    budget: Verdict


@dataclass
class ChatPolicy:
    modes: ChatModes
    max_chars: int
    limits: Limits
    spam: SpamDetector
    # user id -> wall time the timeout ends, or None for a ban
    restrictions: dict[uuid.UUID, datetime | None] = field(default_factory=dict)
    _terms: BlockedTerms = field(init=False)
    _last_post: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._terms = BlockedTerms(self.modes.blocked_terms)

    def set_modes(self, modes: ChatModes) -> None:
        self.modes = modes
        self._terms = BlockedTerms(modes.blocked_terms)

    def restriction(self, user_id: uuid.UUID | None, wall: datetime) -> Refusal | None:
        if user_id is None or user_id not in self.restrictions:
            return None
        until = self.restrictions[user_id]
        if until is None:
            return Refusal("banned", "You are banned from this chat.")
        if until <= wall:
            del self.restrictions[user_id]
            return None
        return Refusal("timed_out", "You are timed out.", retry_after_ms=ms_until(until, wall))

    async def admit(
        self, sender: Sender, privileged: bool, raw: str, mono: float, wall: datetime
    ) -> Admission:
        """Clean ``raw`` and decide; an admitted comment spends from the sender's budget."""
        text = clean_comment(raw)
        refusal = self._identity(sender, wall) or self._content(text)
        if refusal is None and not privileged:
            refusal = self._modes(sender, text) or self._slow_mode(sender.key, mono)
        if refusal is not None:
            return Admission(text, refusal, await self.limits.peek(sender.key, mono))
        budget = await self.limits.take(sender.key, mono)
        if not budget.allowed:
            refusal = Refusal(
                "rate_limited", "You are sending messages too fast.", budget.retry_after_ms
            )
            return Admission(text, refusal, budget)
        if not privileged:
            refusal = self._filters(text) or self._spam(sender.key, text, mono)
        if refusal is None or refusal.hold:
            self._last_post[sender.key] = mono
            self.spam.record(sender.key, text, mono)
        return Admission(text, refusal, self._after_post(sender.key, budget, privileged, mono))

    def _identity(self, sender: Sender, wall: datetime) -> Refusal | None:
        if sender.anonymous and not self.modes.anonymous_chat:
            return Refusal("login_required", "Log in to chat in this room.")
        return self.restriction(sender.user_id, wall)

    def _content(self, text: str) -> Refusal | None:
        if not text:
            return Refusal("empty", "The comment is empty.")
        if len(text) > self.max_chars:
            return Refusal("too_long", f"Comments are at most {self.max_chars} characters.")
        return None

    def _modes(self, sender: Sender, text: str) -> Refusal | None:
        if self.modes.followers_only and sender.anonymous:
            return Refusal("followers_only", "Only followers can chat right now; log in.")
        if self.modes.subscribers_only and not is_subscriber(sender):
            return Refusal("subscribers_only", "Only subscribers can chat right now.")
        if self.modes.emote_only and not is_emote_only(text):
            return Refusal("emote_only", "Only emotes are allowed right now.")
        return None

    def _slow_mode(self, key: str, mono: float) -> Refusal | None:
        wait = self._slow_wait_ms(key, mono)
        if wait:
            detail = f"Slow mode: one message every {self.modes.slow_mode_seconds} s."
            return Refusal("slow_mode", detail, wait)
        return None

    def _slow_wait_ms(self, key: str, mono: float) -> int:
        last = self._last_post.get(key)
        if not self.modes.slow_mode_seconds or last is None:
            return 0
        left = self.modes.slow_mode_seconds - (mono - last)
        return math.ceil(left * 1000) if left > 0 else 0

    def _filters(self, text: str) -> Refusal | None:
        if self._terms.matches(text):
            return Refusal("blocked_term", "The comment contains a blocked term.")
        if self.modes.block_links and find_links(text):
            return Refusal("links_blocked", "Links are not allowed in this chat.")
        return None

    def _spam(self, key: str, text: str, mono: float) -> Refusal | None:
        verdict = self.spam.check(key, text, mono)
        if verdict is None:
            return None
        if verdict in DROPPED:
            if verdict == "repeated":
                return Refusal("duplicate_message", "You sent the same message just now.")
            return Refusal("flooding", "You are flooding the chat; slow down.", 5000)
        detail = "A moderator will review your comment before it is shown."
        return Refusal("held_for_review", detail, hold=verdict)

    def _after_post(self, key: str, budget: Verdict, privileged: bool, mono: float) -> Verdict:
        """The budget after a post: slow mode may make the wait longer than the bucket's."""
        wait = 0 if privileged else self._slow_wait_ms(key, mono)
        if wait <= budget.retry_after_ms:
            return budget
        return Verdict(budget.allowed, 0, wait)
