"""Helpers shared by the loaders: decoding, HTML fragments to paragraphs, dates, authors, titles."""
from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit


class SkipInput(Exception):
    """Raised inside a loader for input it cannot ingest; `load_file` turns it into a `Skip`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# ---------------------------------------------------------------- decoding

_TEXT_CONTROLS = {9, 10, 12, 13}  # tab, newline, form feed, carriage return
_DECLARED_CHARSET = re.compile(
    rb"""(?:<\?xml[^>]*encoding|<meta[^>]*charset)\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE
)


def looks_binary(data: bytes) -> bool:
    """NUL bytes or many control bytes in the first 8 KiB: not a text file."""
    head = data[:8192]
    if not head or head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False  # UTF-16 with a BOM has NULs but is text
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in _TEXT_CONTROLS)
    return controls / len(head) > 0.05


def _text_like(text: str) -> bool:
    """Few control or unassigned characters: what a legacy-encoded text file decodes to."""
    text = text[:100_000]  # a sample is enough, and keeps a 50 MB file fast
    if not text:
        return True
    bad = sum(
        1 for c in text if unicodedata.category(c) in ("Cc", "Cn", "Co") and c not in "\t\n\r\f"
    )
    return bad / len(text) < 0.01


def decode_bytes(data: bytes) -> str:
    """UTF-8 (BOM or not), UTF-16 with a BOM, a declared charset, else cp1252/latin-1 if textual."""
    if looks_binary(data):
        raise SkipInput("binary", "NUL or control bytes: not a text file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise SkipInput("undecodable", f"bad UTF-16: {exc.reason}") from None
        if not _text_like(text):
            raise SkipInput("undecodable", "UTF-16 byte order mark, but not text")
        return text
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8-sig", errors="replace")
    bad = text.count("\ufffd")
    good = len(text) - len(text.encode("ascii", "ignore")) - bad  # well-formed non-ASCII chars
    if good >= 2 * bad:
        # UTF-8 with a stray bad byte: cp1252 would garble every other accent in the file.
        # (Legacy text rarely forms valid UTF-8 sequences, so its `good` stays near zero.)
        return text
    candidates = ["cp1252", "latin-1"]
    declared = _DECLARED_CHARSET.search(data[:4096])
    if declared:
        label = declared.group(1).decode("ascii", "replace").lower()
        # As browsers do (WHATWG): a page labelled latin-1 or ASCII is really windows-1252.
        if label not in ("iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii"):
            candidates.insert(0, label)
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        if _text_like(text):
            return text
    raise SkipInput("undecodable", "not UTF-8, and not text in cp1252/latin-1 either")


# ---------------------------------------------------------------- text and HTML

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]")


def clean_line(line: str) -> str:
    """One line with odd spaces (NBSP, thin spaces) made plain and runs collapsed."""
    return _SPACES.sub(" ", _INVISIBLE.sub("", line)).strip()


def clean_paragraphs(text: str) -> str:
    """Plain text as paragraphs separated by one blank line; lines inside a paragraph kept."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = re.split(r"\n\s*\n", text)
    out = []
    for block in blocks:
        lines = [clean_line(line) for line in block.split("\n")]
        block = "\n".join(line for line in lines if line)
        if block:
            out.append(block)
    return "\n\n".join(out)


_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
    "pre", "section", "article", "header", "footer", "figure", "figcaption", "table", "tr",
    "dd", "dt", "dl", "hr", "main", "address",
}
_DROP_TAGS = {"script", "style", "noscript", "iframe", "template", "svg", "form", "button", "head"}
_VOID_TAGS = {"br", "hr", "img", "meta", "link", "input", "source", "wbr", "col", "area", "base"}


class _ParagraphParser(HTMLParser):
    """Collects the text of an HTML fragment, breaking paragraphs at block elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities become data: "&lt;b&gt;" is text
        self.paragraphs: list[str] = []
        self._current: list[str] = []
        self._dropping = 0

    def _flush(self) -> None:
        para = clean_line("".join(self._current))
        if para:
            self.paragraphs.append(para)
        self._current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP_TAGS and tag not in _VOID_TAGS:
            self._dropping += 1
        elif tag in _BLOCK_TAGS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP_TAGS:
            self._dropping = max(0, self._dropping - 1)
        elif tag in _BLOCK_TAGS:
            self._flush()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._dropping:
            self._current.append(data.replace("\n", " "))


def html_to_paragraphs(fragment: str) -> str:
    """An HTML fragment as plain text: a paragraph per block element, blank lines between."""
    parser = _ParagraphParser()
    parser.feed(fragment)
    parser.close()
    parser._flush()
    return "\n\n".join(parser.paragraphs)


_HTML_TAG = re.compile(
    r"</?(?:p|br|div|span|a|em|strong|b|i|u|h[1-6]|li|ul|ol|blockquote|figure|img|section|"
    r"article|table|tr|td)(?:\s[^<>]*)?/?>",
    re.IGNORECASE,
)


def looks_like_html(text: str) -> bool:
    """True when the text carries HTML markup (a `<p>`, `<br>`, `<a href>`...), not just a `<`."""
    return bool(_HTML_TAG.search(text))


def text_or_html(value: str) -> str:
    """Paragraph text from a field that may hold plain text or an HTML fragment."""
    return html_to_paragraphs(value) if looks_like_html(value) else clean_paragraphs(value)


def one_line(value: str) -> str:
    """A title-like field as one clean line, tags removed if it holds HTML."""
    if looks_like_html(value) or "&" in value:
        value = " ".join(html_to_paragraphs(value).split("\n\n"))
    return clean_line(value.replace("\n", " "))


def fallback_title(text: str, limit: int = 120) -> str:
    """The first sentence of the text, cut at a word boundary near `limit` characters."""
    first = text.strip().split("\n", 1)[0]
    match = re.match(r"(.+?[.!?])(?:\s|$)", first)
    sentence = (match.group(1) if match else first).strip()
    if len(sentence) <= limit:
        return sentence
    cut = sentence[: limit - 3].rsplit(" ", 1)[0].rstrip(",;:-")
    return cut + "..."  # ASCII: titles are NFKC-normalised, which turns "…" into "..." anyway


def clean_url(value: object) -> str | None:
    """An absolute http(s) URL, or None: a citation link must be followable."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname  # raises on a malformed netloc such as "[::1"
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or re.search(r"\s", url):
        return None
    return url


# ---------------------------------------------------------------- authors

_AUTHOR_SPLIT = re.compile(r"\s*(?:,|;|\band\b|&|\|)\s*", re.IGNORECASE)


def split_authors(value: object) -> list[str]:
    """Author names from a string ("A and B", "A, B", "By A"), or a list of strings or {name}s."""
    if value is None:
        return []
    if isinstance(value, dict):
        value = value.get("name") or value.get("full_name") or ""
    if isinstance(value, (list, tuple)):
        return [name for item in value for name in split_authors(item)]
    if not isinstance(value, str):
        return []
    value = re.sub(r"^\s*(?:written\s+)?by\s*:?\s+", "", clean_line(value), flags=re.IGNORECASE)
    names = [n.strip(" .") for n in _AUTHOR_SPLIT.split(value)]
    seen: list[str] = []
    for name in names:
        if name and name not in seen:
            seen.append(name)
    return seen


# ---------------------------------------------------------------- dates

_DATE_FORMATS = (
    "%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d",
    "%B %d, %Y", "%b %d, %Y", "%B %d %Y", "%b %d %Y", "%b. %d, %Y",
    "%d %B %Y", "%d %b %Y", "%d %B, %Y", "%d %b, %Y",
)
_DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
    "%B %d, %Y %H:%M", "%B %d, %Y %I:%M %p", "%b %d, %Y %I:%M %p", "%d %B %Y %H:%M",
    "%B %d, %Y, %I:%M %p", "%b %d, %Y, %I:%M %p",
)
_WEEKDAY = re.compile(
    r"^(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*\.?,?\s+", re.IGNORECASE
)
_ORDINAL = re.compile(r"(\d)(?:st|nd|rd|th)\b", re.IGNORECASE)
_ZONE_WORDS = {"utc": "+00:00", "gmt": "+00:00", "z": "+00:00"}


def _valid_year(year: int) -> bool:
    return 1800 <= year <= 2200


def _from_epoch(value: float) -> str | None:
    # Seconds or milliseconds since 1970, only within plausible news years; else not a date.
    if 1e12 <= abs(value) < 1e14:
        value /= 1000
    if not 1e8 <= value < 7.3e9:  # before 1973, a small number is a count or a year, not a time
        return None
    return datetime.fromtimestamp(value, tz=UTC).isoformat()


def _iso(dt: datetime | date) -> str | None:
    if not _valid_year(dt.year):
        return None
    return dt.isoformat()


def normalize_date(value: object) -> str | None:
    """An ISO 8601 date or datetime (timezone kept when given), or None; never guessed."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return None if math.isnan(value) else _from_epoch(float(value))
    if isinstance(value, datetime | date):
        return _iso(value)
    if not isinstance(value, str):
        return None
    raw = clean_line(value)
    if not raw or len(raw) > 80:
        return None
    if re.fullmatch(r"\d{10}|\d{13}", raw):
        return _from_epoch(float(raw))
    return _parse_date_string(raw)


def _parse_date_string(raw: str) -> str | None:
    try:  # ISO 8601, including "Z" and offsets (Python 3.11 fromisoformat)
        if re.match(r"^\d{4}-\d{2}-\d{2}", raw):
            parsed = datetime.fromisoformat(raw.replace(" ", "T", 1) if len(raw) > 10 else raw)
            return _iso(parsed.date() if len(raw) == 10 else parsed)
    except ValueError:
        pass
    if re.search(r"[A-Za-z]{3},?\s+\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}\s+\d", raw) or re.match(
        r"^\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d{1,2}:\d{2}", raw
    ):
        try:  # RFC 822 / 2822, as in RSS pubDate
            parsed = parsedate_to_datetime(raw)
            return _iso(parsed)
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    text = _ORDINAL.sub(r"\1", _WEEKDAY.sub("", raw)).strip()
    zone = None
    tail = re.search(r"\s+(UTC|GMT|Z)$", text, re.IGNORECASE)
    if tail:
        zone = _ZONE_WORDS[tail.group(1).lower()]
        text = text[: tail.start()]
    for fmt in _DATETIME_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        result = _iso(parsed)
        return result + zone if result and zone else result
    for fmt in _DATE_FORMATS:
        try:
            return _iso(datetime.strptime(text, fmt).date())
        except ValueError:
            continue
    return _unambiguous_numeric(text)


def _unambiguous_numeric(text: str) -> str | None:
    # "14/07/2025" is a date; "03/04/2025" could be March or April, so it is not.
    match = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", text)
    if not match:
        return None
    a, b, year = (int(g) for g in match.groups())
    if a > 12 >= b:
        day, month = a, b
    elif b > 12 >= a:
        day, month = b, a
    elif a == b:
        day = month = a
    else:
        return None
    try:
        return _iso(date(year, month, day))
    except ValueError:
        return None
