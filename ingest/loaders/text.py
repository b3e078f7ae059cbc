"""Plain text as a scraper leaves it: find the headline, drop the site chrome, keep the article."""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from rag.types import Article, Skip

from .common import clean_line, clean_url, fallback_title, normalize_date, split_authors
from .outlet import find_outlet

# Analytics and ad beacons whose names a scraper leaves behind as text (whole words only:
# "parsely" must not catch "sparsely").
_TRACKERS = re.compile(
    r"\b(?:scorecardresearch|googletagmanager|google-analytics|googlesyndication|chartbeat|"
    r"comscore|doubleclick|quantserve|hotjar|newrelic|outbrain|taboola|parsely|omniture|"
    r"criteo|moatads|amazon-adsystem|fbevents|datalayer|gtag)\b",
    re.IGNORECASE,
)
# Whole-line widgets and labels, compared lower-cased with trailing ":" and spaces removed.
_WIDGETS = {
    "follow us", "follow", "text size", "font size", "share", "shares", "share this",
    "share this article", "share this story", "share article", "tweet", "email", "e-mail",
    "print", "a- a+", "a-a+", "a a a", "aa", "listen", "listen to this article", "copy link",
    "link copied", "comments", "comment", "save", "save article", "bookmark", "facebook",
    "twitter", "x", "whatsapp", "linkedin", "telegram", "reddit", "pinterest", "menu", "search",
    "close", "sign in", "log in", "login", "register", "skip to content",
    "skip to main content", "back to top", "advertisement", "advertisment", "ad", "ads",
    "sponsored", "sponsored content", "story continues below advertisement",
    "article continues below advertisement", "continue reading", "scroll to continue with content",
    "read more", "show more", "load more", "view comments", "subscribe", "subscribe now",
    "sign up", "newsletter", "donate", "premium", "exclusive", "live", "watch", "video",
    "photos", "loading", "loading...",
}
# Lines after which nothing belongs to the article any more (once the body has begun).
_STOP = re.compile(
    r"^(?:leave a (?:reply|comment)|post a comment|add a comment|\d+ comments?|comments? \(\d+\)|"
    r"please enter your (?:comment|name)|most (?:popular|read|viewed|shared)|"
    r"trending(?: now| stories)?|"
    r"top stories|latest (?:news|stories)|related (?:articles|stories|news|posts|content)|"
    r"you (?:may|might) also (?:like|be interested)|recommended(?: for you| stories)?|"
    r"more (?:from|stories)\b[^.!?]{0,40}|(?:©|\(c\)\s*\d{4}|copyright\s*(?:©|\(c\)|\d{4})).*|"
    r".*all rights reserved\.?)$",
    re.IGNORECASE,
)
_SUPPORT_HEADING = re.compile(
    r"^(?:support (?:our|independent|quality|free) (?:journalism|press|reporting)|support us|"
    r"become a (?:member|subscriber|supporter)|make a contribution|donate(?: now| today)?)[.!]?$",
    re.IGNORECASE,
)
_APPEAL_WORDS = re.compile(
    r"journalism|support|subscri|donat|contribut|readers|membership|paywall|click(?:ing)? here",
    re.IGNORECASE,
)
# Phrases only a publisher's appeal uses; "get a subscription to the bike scheme" is news.
_APPEAL = re.compile(
    r"(?:take|buy|get|start) a (?:paid|digital) subscription|subscribe (?:now|today|here)|"
    r"by clicking here|readers like you|donate (?:now|today)|"
    r"support (?:us|our (?:journalism|work|reporting))\b",
    re.IGNORECASE,
)
_TEASER = re.compile(
    r"^(?:also read|read also|read more|also see|see also|related|recommended|must read|"
    r"don'?t miss|more on this|watch|listen|tags|topics)\s*[:|\-–—]", re.IGNORECASE
)
_SUBSCRIBE = re.compile(
    r"^(?:subscribe to|sign up (?:for|to)|join our|join us|get our|follow us on|follow .{1,40} on "
    r"(?:facebook|twitter|x|instagram|telegram|whatsapp|youtube))\b",
    re.IGNORECASE,
)
_MONTH = (
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
)
_DATE_ONLY = re.compile(
    rf"^(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s+)?"
    rf"(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH},?\s+"
    rf"\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}[/.]\d{{1,2}}[/.]\d{{4}})"
    rf"(?:[\s,|]+\d{{1,2}}[:.]\d{{2}}(?:\s*[ap]\.?m\.?)?(?:\s+[A-Z]{{2,4}})?)?$",
    re.IGNORECASE,
)
_DATE_MARKER = re.compile(
    r"^(?:first published|published|last updated|updated|posted|last modified)"
    r"(?:\s+(?:on|at))?\s*:?\s+(.+)$",
    re.IGNORECASE,
)
_BYLINE = re.compile(r"^(?:[Ww]ritten\s+)?[Bb][Yy]\s*:?\s+([A-Z][^.!?]{1,80})$")
_CREDIT = re.compile(r"^(?:Reporting|Reported|Written) by ([A-Z][^.!?;()]{1,80})$")
_URL_LINE = re.compile(r"^(?:source|url|link)?\s*:?\s*(https?://\S+)$", re.IGNORECASE)
_GLUED = re.compile(r"[a-z][A-Z]")


def _key(line: str) -> str:
    return line.lower().rstrip(" :").strip()


def _is_tracker(line: str) -> bool:
    return bool(_TRACKERS.search(line)) and len(line.split()) <= 8


def is_breadcrumb(line: str) -> bool:
    """A navigation trail: "Home > World > ..." or menu words glued together ending in "..."."""
    if re.match(r"^home\s*[>»/|›:]", line, re.IGNORECASE):
        return True
    truncated = line.endswith(("...", "…"))
    glued = line.startswith("Home") and line[4:5].isupper() or len(_GLUED.findall(line)) >= 2
    return truncated and glued and len(line.split()) <= 40


def _is_menu(line: str) -> bool:
    parts = [p.strip() for p in re.split(r"\s*[|•·]\s*", line)]
    return len(parts) >= 3 and all(0 < len(p.split()) <= 3 for p in parts)


def is_chrome(line: str) -> bool:
    """Site furniture rather than article text: widgets, trackers, teasers, menus, notices."""
    key = _key(line)
    if key in _WIDGETS or _is_tracker(line) or is_breadcrumb(line) or _is_menu(line):
        return True
    if _DATE_ONLY.match(line) or normalize_date(line):
        return True
    if _TEASER.match(line) or _APPEAL.search(line) or _SUPPORT_HEADING.match(line):
        return True
    words = len(line.split())
    if _SUBSCRIBE.match(line) and words <= 15 or "newsletter" in key and words <= 20:
        return True
    if "cookie" in key and re.search(r"accept|consent|policy|we use|uses cookies", key):
        return True
    return bool(_STOP.match(line))


def _is_title_like(line: str) -> bool:
    words = len(line.split())
    return 4 <= words <= 25 and not line.endswith(".") and not line[:1].islower()


def _is_paragraph_like(line: str) -> bool:
    return len(line.split()) > 25 or (line.endswith(".") and len(line.split()) > 8)


def _crumb_match(crumb: str, line: str) -> bool:
    """True if the crumb's truncated tail is a prefix of `line` (or the whole of it)."""
    tail = crumb.rstrip(".… ")
    for k in range(min(len(line), len(tail)), 11, -1):
        if tail.endswith(line[:k].rstrip()):
            return k >= min(len(line), 20)
    return False


def find_headline(lines: list[str]) -> int | None:
    """Index of the headline: where the breadcrumb's tail starts, else the first title-like line."""
    found = _find_headline(lines)
    if found is None:
        return None
    # "Headline | Site" from the page <title>, then the headline itself: take the latter.
    short = re.split(r"\s+[|–—-]\s+", lines[found])[0]
    for i in range(found + 1, min(len(lines), found + 10)):
        if lines[i] in (lines[found], short):
            return i
    return found


def _find_headline(lines: list[str]) -> int | None:
    crumbs = [i for i, line in enumerate(lines) if is_breadcrumb(line)]
    for c in crumbs:
        for i in range(c + 1, min(len(lines), c + 30)):
            if _crumb_match(lines[c], lines[i]):
                return i
    for i, line in enumerate(lines):
        if is_chrome(line) or _DATE_MARKER.match(line) or _BYLINE.match(line):
            continue
        if _is_title_like(line):
            return i
        if _is_paragraph_like(line):
            return None  # the text starts straight away: no headline to find
    return None


@dataclass
class _Meta:
    published: str | None = None
    updated: str | None = None
    authors: tuple[str, ...] = ()
    url: str | None = None
    outlet: str | None = None


def _marker_date(value: str) -> str | None:
    # "July 14, 2025 10:30 am IST | 5 min read": try the whole, then shorter leading pieces.
    pieces = re.split(r"\s*[|•·]\s*", value)
    words = pieces[0].split()
    for n in range(len(words), 0, -1):
        found = normalize_date(" ".join(words[:n]).rstrip(","))
        if found:
            return found
    return None


def _take_meta(line: str, meta: _Meta) -> bool:
    """Record a date marker, byline or URL line in `meta`; True if the line was one."""
    marker = _DATE_MARKER.match(line)
    found = _marker_date(marker.group(1)) if marker and len(line.split()) <= 14 else None
    # "Published: ..." is a marker even with an odd date; "Published in 1998, the book..." is text.
    if marker and (found or ":" in line[: marker.start(1)]) and len(line.split()) <= 14:
        if line.lower().startswith(("updated", "last")):
            meta.updated = meta.updated or found
        else:
            meta.published = meta.published or found
        return True
    byline = _BYLINE.match(line)
    if byline and len(line.split()) <= 10 and not meta.authors:
        meta.authors = tuple(split_authors(byline.group(1)))
        return True
    credit = _CREDIT.match(line)
    if credit and len(line.split()) <= 12 and not meta.authors:
        meta.authors = tuple(split_authors(credit.group(1)))
        return False  # a credit line at the end is part of the article's text: keep it
    url = _URL_LINE.match(line)
    if url and not meta.url:
        meta.url = clean_url(url.group(1))
        return True
    return False


def meta_line(line: str) -> _Meta | None:
    """What a line of page metadata says, or None when any piece of it is not metadata: "By Rory
    Tanaka | Published Tuesday, November 17, 2026" gives the author and the date."""
    meta = _Meta()
    pieces = [p for p in re.split(r"\s+[|•·]\s+", line) if p]
    return meta if pieces and all(_take_meta(p, meta) for p in pieces) else None


def ends_article(line: str) -> bool:
    """A line after which nothing is the article's any more ("Most read", "Related stories")."""
    return bool(_STOP.match(line))


def _appeal_end(lines: list[tuple[int, str]], at: int) -> int | None:
    """Where the support box opened at `at` ends, if it is bounded; else None.

    An appeal's wording varies too much to match line by line; what is stable is that it is a
    few lines closed by a heading or button of its own, a comment form, or the end of the page.
    """
    for j in range(at + 1, min(len(lines), at + 6) + 1):
        if j == len(lines):
            return j
        line = lines[j][1]
        if _SUPPORT_HEADING.match(line):
            return j + 1  # the closing "Support Our Journalism" button goes too
        if _STOP.match(line):
            return j
    return None


def _body(lines: list[tuple[int, str]], meta: _Meta) -> list[tuple[int, str]]:
    """The article's own lines: chrome dropped, support boxes skipped, stop at trailing chrome."""
    kept: list[tuple[int, str]] = []
    in_appeal = False
    i = 0
    while i < len(lines):
        block, line = lines[i]
        i += 1
        if _take_meta(line, meta):
            continue
        if _SUPPORT_HEADING.match(line):
            # A bounded box is dropped whole; otherwise only the lines that read like an appeal.
            end = _appeal_end(lines, i - 1)
            i = end if end is not None else i
            in_appeal = end is None
            continue
        if in_appeal and _APPEAL_WORDS.search(line):
            continue
        in_appeal = False
        if kept and _STOP.match(line):
            break
        if not is_chrome(line):
            kept.append((block, line))
    return kept


def _join(lines: list[tuple[int, str]]) -> str:
    """Paragraphs: one per line, except hard-wrapped lines of one block, joined back."""
    paras: list[str] = []
    last_block = None
    for block, line in lines:
        prev = paras[-1] if paras else ""
        wrapped = block == last_block and len(prev) >= 50 and not re.search(r"[.!?:;\"”’)…]$", prev)
        if wrapped:
            paras[-1] = prev + " " + line
        else:
            paras.append(line)
        last_block = block
    return "\n\n".join(paras)


def _support_boxes(lines: list[str]) -> set[str]:
    """The lines of every support box: up to six after a "Support Our Journalism" heading."""
    boxed: set[str] = set()
    for i, line in enumerate(lines):
        if not _SUPPORT_HEADING.match(line):
            continue
        for later in lines[i + 1 : i + 7]:
            if _SUPPORT_HEADING.match(later) or _STOP.match(later):
                break
            boxed.add(later)
    return boxed


def _outlet(lines: list[str], headline: str | None, kept: list[str]) -> str | None:
    """The outlet the page's chrome names (ingest/loaders/outlet.py): the lines around the article."""
    body = {headline, *kept}
    chrome = [line for line in lines if line not in body]
    boxed = _support_boxes(lines)
    appeal = [line for line in chrome if line in boxed or _APPEAL_WORDS.search(line)]
    return find_outlet(chrome, appeal, kept[-3:], headline)


def parse_scraped(raw: str) -> tuple[str | None, str, _Meta]:
    """The headline (or None), the body paragraphs and what the text says of its date, author,
    URL and outlet. A date line in the site's header (the day of the visit) is not a date of the
    article: only a marker ("Published: ...") dates it."""
    numbered: list[tuple[int, str]] = []
    block = 0
    for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = clean_line(line)
        if not line:
            block += 1
            continue
        numbered.append((block, line))
    meta = _Meta()
    lines = [line for _, line in numbered]
    headline_at = find_headline(lines)
    headline = None
    if headline_at is not None:
        headline = numbered[headline_at][1]
        # Metadata above the headline (a URL, "By ..."), then the article below it.
        for _, line in numbered[:headline_at]:
            _take_meta(line, meta)
        numbered = numbered[headline_at + 1 :]
    kept = _body(numbered, meta)
    meta.outlet = _outlet(lines, headline, [line for _, line in kept])
    return headline, _join(kept), meta


def load_text(text: str, origin: str) -> Iterator[Article | Skip]:
    """One article from a scraped text page, or a Skip "no article" if nothing is left."""
    headline, body, meta = parse_scraped(text)
    if not body:
        yield Skip(origin, "no article", "only a headline or site chrome in the text")
        return
    yield Article.create(
        title=headline or fallback_title(body),
        text=body,
        url=meta.url,
        source=meta.outlet,
        authors=meta.authors,
        published=meta.published or meta.updated,
        origin=origin,
    )
