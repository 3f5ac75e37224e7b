"""Spam detection: repeated messages and floods are dropped, shouting and link spam are held.

Per room and per sender, over short sliding windows of the sender's accepted messages. Pure:
the caller passes the time, so tests move it by hand.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Literal

from livecast.realtime.text import caps_ratio, find_links, fold

Verdict = Literal["repeated", "flooding", "caps", "link_spam"]
DROPPED: frozenset[Verdict] = frozenset({"repeated", "flooding"})


@dataclass(frozen=True, slots=True)
class SpamRules:
    repeat_window: float = 30.0  # an identical message within this many seconds is dropped
    flood_window: float = 30.0
    flood_max: int = 15  # more accepted messages than this within flood_window is a flood
    caps_min_letters: int = 12
    caps_max_ratio: float = 0.7
    links_per_message: int = 2  # more links than this in one message is link spam
    link_window: float = 60.0
    link_messages: int = 3  # this many messages with links within link_window is link spam


@dataclass(slots=True)
class _Seen:
    at: float
    text: str
    links: int


class SpamDetector:
    def __init__(self, rules: SpamRules | None = None, *, max_senders: int = 50_000) -> None:
        self.rules = rules or SpamRules()
        self._max_senders = max_senders
        self._history: OrderedDict[str, deque[_Seen]] = OrderedDict()

    def check(self, sender: str, text: str, now: float) -> Verdict | None:
        """What is wrong with ``text`` from ``sender`` now, or None if it looks fine."""
        rules = self.rules
        history = self._recent(sender, now)
        folded = fold(text)
        if any(s.text == folded and now - s.at < rules.repeat_window for s in history):
            return "repeated"
        if sum(1 for s in history if now - s.at < rules.flood_window) >= rules.flood_max:
            return "flooding"
        letters, upper = caps_ratio(text)
        if letters >= rules.caps_min_letters and upper > rules.caps_max_ratio:
            return "caps"
        links = len(find_links(text))
        if links > rules.links_per_message:
            return "link_spam"
        if links:
            recent = sum(1 for s in history if s.links and now - s.at < rules.link_window)
            if recent + 1 >= rules.link_messages:
                return "link_spam"
        return None

    def record(self, sender: str, text: str, now: float) -> None:
        """Remember an accepted message."""
        history = self._recent(sender, now)
        history.append(_Seen(now, fold(text), len(find_links(text))))
        self._history[sender] = history
        self._history.move_to_end(sender)
        if len(self._history) > self._max_senders:
            self._history.popitem(last=False)

    def _recent(self, sender: str, now: float) -> deque[_Seen]:
        horizon = max(self.rules.repeat_window, self.rules.flood_window, self.rules.link_window)
        history = self._history.get(sender) or deque()
        while history and now - history[0].at >= horizon:
            history.popleft()
        return history
