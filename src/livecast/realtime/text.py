"""Comment text: cleaning, and the tests moderation applies to it. Pure functions.

Text is stored and sent as data, never as markup: escaping happens where it is rendered.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Bidirectional overrides and isolates reorder what is displayed (used to spoof text);
# zero-width joiner (U+200D) and variation selectors are kept: emoji sequences need them.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_SPACES = re.compile(r"\s+")
_EMOTE_CODE = re.compile(r"^(?::[a-z0-9_+-]{1,32}:)+$", re.IGNORECASE)
_EMOJI_JOINERS = frozenset("\u200d\ufe0f\ufe0e\u20e3")
_LINK = re.compile(
    r"(?:https?://|www\.)\S+"
    r"|\b[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})*\."
    r"(?:com|net|org|io|gg|tv|co|me|ly|xyz|app|dev|info|biz|ru|de|uk|fr|be|to|link|live)"
    r"\b(?:/\S*)?",
    re.IGNORECASE,
)


def clean_comment(raw: str) -> str:
    """NFC-normalised text without control or bidi-override characters, whitespace collapsed."""
    text = unicodedata.normalize("NFC", raw)
    kept = (
        " " if ch in "\t\n\r" else ch
        for ch in text
        if ch in "\t\n\r" or (unicodedata.category(ch) != "Cc" and ch not in _BIDI_CONTROLS)
    )
    return _SPACES.sub(" ", "".join(kept)).strip()


def _is_emoji_char(ch: str) -> bool:
    if ch in _EMOJI_JOINERS:
        return True
    code = ord(ch)
    if 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F:  # skin tones, tag sequences
        return True
    return unicodedata.category(ch) == "So"


def is_emote_only(text: str) -> bool:
    """Every word is an emoji or an emote code such as ``:wave:``."""
    words = text.split()
    return bool(words) and all(
        _EMOTE_CODE.match(word) or all(_is_emoji_char(ch) for ch in word) for word in words
    )


def find_links(text: str) -> list[str]:
    return _LINK.findall(text)


def caps_ratio(text: str) -> tuple[int, float]:
    """How many letters ``text`` has, and the share of them that are upper case."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0, 0.0
    upper = sum(1 for ch in letters if ch.isupper())
    return len(letters), upper / len(letters)


def fold(text: str) -> str:
    """The form text is compared in: compatibility-normalised and case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


class BlockedTerms:
    """Terms matched as whole words, case-insensitively; ``*`` stands for any characters
    within a word, so ``spam*`` blocks "spammer" and ``*coin`` blocks "shitcoin"."""

    def __init__(self, terms: Iterable[str]) -> None:
        self.terms = tuple(dict.fromkeys(fold(term.strip()) for term in terms if term.strip()))
        patterns = [self._pattern(term) for term in self.terms]
        self._regex = re.compile("|".join(patterns)) if patterns else None

    @staticmethod
    def _pattern(term: str) -> str:
        if not term.replace("*", ""):
            return r"(?!)"  # a term of wildcards alone would block everything
        body = r"\S*?".join(re.escape(part) for part in term.split("*"))
        return rf"(?<!\w){body}(?!\w)"

    def matches(self, text: str) -> bool:
        return self._regex is not None and self._regex.search(fold(text)) is not None
