"""The outlet a scraped page names in its own chrome: its © line, its appeal, its credit lines."""
from __future__ import annotations

import re
from collections.abc import Sequence

# A publication's name: capitalised words, with the small words names carry ("Times of India",
# "News & Observer"). Lower-case words end it: "Subscribe to The Daily Planet today".
_WORD = r"[A-Z](?:[\w'’&-]|\.(?=\w))*"  # a dot inside ("A.B.C"), not one that ends a sentence
_NAME = rf"{_WORD}(?:\s+(?:(?:of|and|&|the|de|la)\s+)?{_WORD}){{0,5}}"
_DASH = r"\s(?:[–—]|--?)\s"

# "© 2026 The Coastline Tribune. All rights reserved.", "Copyright (c) 2024 Daily Planet Ltd"
_COPYRIGHT = re.compile(
    rf"^(?i:©|\(c\)|copyright\b)(?:\s*(?i:©|\(c\)))?\s*(?:\d{{4}}(?:\s*[-–—]\s*\d{{4}})?\s*,?\s*)?"
    rf"(?P<name>{_NAME})"
)
# An appeal that makes the outlet its subject, set off by an aside between dashes:
# "ThePrint – with exceptional reporters, columnists and editors – is doing just that."
_APPEAL_SUBJECT = re.compile(
    rf"(?:^|[.!?]\s+)(?P<name>{_NAME}){_DASH}[^–—]{{3,120}}?{_DASH}"
    r"(?:is|are|has|have|was|relies|depends)\b"
)
# Weaker signs, counted only when another line names the same outlet.
_INVITE = re.compile(rf"^(?i:subscribe to|sign up for|support|follow)\s+(?P<name>{_NAME})")
_CREDIT = re.compile(
    rf"^{_NAME}\s+(?:covers|reports on|writes about|reports)\b[^.!?]{{0,60}}?\bfor\s+"
    rf"(?:the\s+)?(?P<name>{_NAME})\.?$"
)
# Capitalised words an appeal or button uses that are not a name ("Support Our Journalism").
_NOT_NAMES = {
    "our", "us", "you", "your", "independent", "quality", "free", "local", "journalism", "now",
    "today", "here", "premium", "plus", "all", "unlimited", "digital", "newsletter",
    "newsletters", "more", "this", "it",
}
_STRONG, _WEAK = 2, 1


def _clean(name: str) -> str | None:
    name = name.strip(" .,;:'’")
    words = name.split()
    if not words or words[0].lower() in _NOT_NAMES:
        return None
    # A sentence capitalises its first "the" ("The Valley Courier – ..."), and the other formats'
    # site names leave it off ("Valley Courier"); a one-word name keeps it ("The Guardian").
    if words[0] == "The" and len(words) >= 3:
        words = words[1:]
    return " ".join(words)


def find_outlet(chrome: Sequence[str], appeal: Sequence[str], credits: Sequence[str],
                headline: str | None = None) -> str | None:
    """The outlet the page names, or None. The page's title ("Headline | Site"), a © line or an
    appeal's subject is enough alone; a "Subscribe to X" or "... covers Y for X." line only when
    another line names X too.

    `chrome` is every line that is not the article, `appeal` the chrome lines of a support box,
    `credits` the article's last lines (where "Jane Doe covers transport for X." stands).
    """
    votes: dict[str, int] = {}
    first: dict[str, str] = {}

    def vote(match: re.Match[str] | None, weight: int) -> None:
        name = _clean(match.group("name")) if match else None
        if name:
            key = name.casefold()
            votes[key] = votes.get(key, 0) + weight
            first.setdefault(key, name)

    if headline:
        titled = re.compile(rf"^{re.escape(headline)}\s+[|–—-]\s+(?P<name>{_NAME})$")
        for line in chrome:
            vote(titled.match(line), _STRONG)
    # The appeal names the outlet as readers know it; a © line may name the company that owns it.
    for line in appeal:
        vote(_APPEAL_SUBJECT.search(line), _STRONG)
    for line in chrome:
        vote(_COPYRIGHT.match(line), _STRONG)
    for line in chrome:
        vote(_INVITE.match(line), _WEAK)
    for line in credits:
        vote(_CREDIT.match(line), _WEAK)
    best = max(votes, key=lambda k: votes[k], default=None)  # a tie: the first named wins
    return first[best] if best is not None and votes[best] >= _STRONG else None
