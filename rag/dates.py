"""Dates in questions ("last week", "in June 2022", "latest") resolved against an as-of date."""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from rag.errors import InvalidQuestionError

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
_MONTHS["sept"] = 9
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
            "eight": 8, "nine": 9, "ten": 10, "a": 1, "an": 1}
REPORTING_LAG_DAYS = 3
_LATEST = re.compile(
    r"\b(latest|most recent(ly)?|newest|currently|right now|so far|the current|now|recent(ly)?|"
    r"update on|still)\b", re.IGNORECASE)
LIMITS = f"{date.min.isoformat()} to {date.max.isoformat()}"  # the days a date can hold


@dataclass(frozen=True)
class DateRange:
    since: date | None = None
    until: date | None = None
    latest: bool = False  # the question asks for the most recent news: recency counts
    phrase: str = ""  # the words that set the range, for display
    note: str = ""  # why a date phrase of the question was ignored, if one was

    def describe(self) -> str:
        if self.since and self.until:
            text = f"{self.since.isoformat()} .. {self.until.isoformat()}"
        elif self.since:
            text = f"since {self.since.isoformat()}"
        elif self.until:
            text = f"until {self.until.isoformat()}"
        else:
            text = "any date"
        return f"{text} ({self.note})" if self.note else text


def parse_date(value: str | date | None, what: str = "date") -> date | None:
    """'2026-11-24', '2022/06/16', a date or a datetime -> date; a clear error otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if (m := re.match(r"[+-]?(\d+)[-/]", text)) and (len(m.group(1)) > 4 or not int(m.group(1))):
        raise InvalidQuestionError(
            f"The {what} {_shown(text)} is out of range: dates run from {LIMITS} (YYYY-MM-DD)")
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"):
        try:
            return datetime.strptime(text[:10] if fmt != "%Y%m%d" else text[:8], fmt).date()
        except ValueError:
            continue
    raise InvalidQuestionError(f"Cannot read the {what} {_shown(text)}: expected YYYY-MM-DD")


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")


class _OutOfRange(Exception):
    """A date phrase names days that datetime.date cannot hold."""


def _add(d: date, days: int) -> date:
    """d plus (or minus) some days; _OutOfRange beyond year 1 or 9999."""
    try:
        return d + timedelta(days=days)
    except OverflowError:
        raise _OutOfRange from None


def _since(d: date, days: int) -> date:
    """The start of a window `days` long ending on d: cut at the first representable day."""
    try:
        return _add(d, -days)
    except _OutOfRange:
        return date.min


def _widened(d: date, days: int) -> date:
    """An end widened by some days: cut at the last representable day."""
    try:
        return _add(d, days)
    except _OutOfRange:
        return date.max


def _year(year: int) -> int:
    if not 1 <= year <= 9999:
        raise _OutOfRange
    return year


def _count(word: str) -> int | None:
    return _NUMBERS.get(word) or (int(word) if word.isascii() and word.isdigit() else None)


def _week_start(d: date) -> date:
    return _add(d, -d.weekday())


class _Reading:
    """A question being read: the phrase last matched, and the ranges that phrase sets."""

    def __init__(self, question: str, as_of: date) -> None:
        self.q = question.lower()
        self.as_of = as_of
        self.latest = bool(_LATEST.search(self.q))
        self.phrase = ""

    def found(self, pattern: str) -> re.Match | None:
        if m := re.search(pattern, self.q):
            self.phrase = m.group()
        return m

    def recent(self, since: date | None, until: date | None) -> DateRange:
        # news of an event appears the day after: widen the window by one day
        until = _widened(until, 1) if until else None
        return DateRange(since, min(until, self.as_of) if until else self.as_of, self.latest,
                         self.phrase)

    def named(self, since: date, until: date) -> DateRange:
        # a named date is when something happened; reports follow within a few days
        return DateRange(since, _widened(until, REPORTING_LAG_DAYS), self.latest, self.phrase)


def _relative_range(r: _Reading) -> DateRange | None:
    """Days counted back from as_of: yesterday, last week, the past 3 days, this year ..."""
    as_of = r.as_of
    if r.found(r"\byesterday\b"):
        d = _add(as_of, -1)
        return r.recent(d, d)
    if r.found(r"\b(today|tonight|this morning)\b"):
        return r.recent(as_of, as_of)
    if r.found(r"\blast weekend\b"):
        sat = _add(_week_start(as_of), -2)
        return r.recent(sat, _add(sat, 1))
    if r.found(r"\b(last|previous) week\b"):
        start = _add(_week_start(as_of), -7)
        return r.recent(start, _add(start, 6))
    if r.found(r"\b(this|the past) week\b"):
        # "this week" in news means the last seven days, whatever the weekday
        return r.recent(_since(as_of, 6), as_of)
    if (m := r.found(r"\b(?:in |over |during )?the (?:last|past) (\w+) (day|week|month)s?\b")) \
            and (n := _count(m.group(1))):
        return r.recent(_since(as_of, n * {"day": 1, "week": 7, "month": 30}[m.group(2)]), as_of)
    if r.found(r"\b(last|previous) month\b"):
        end = _add(as_of.replace(day=1), -1)
        return r.recent(end.replace(day=1), end)
    if r.found(r"\bthis month\b"):
        return r.recent(as_of.replace(day=1), as_of)
    if r.found(r"\blast year\b"):
        y = _year(as_of.year - 1)
        return r.recent(date(y, 1, 1), date(y, 12, 31))
    if r.found(r"\bthis year\b"):
        return r.recent(date(as_of.year, 1, 1), as_of)
    return None


def _named_range(r: _Reading) -> DateRange | None:
    """A day, month or year the question names: on June 16, in June 2022, in 2021."""
    if m := r.found(
            rf"\b(?:on )?({_MONTH_RE})\.? (\d{{1,2}})(?:st|nd|rd|th)?(?:,? (\d{{4}}))?\b"):
        month, day = _MONTHS[m.group(1)], int(m.group(2))
        year = _year(int(m.group(3)) if m.group(3) else _year_for(month, r.as_of))
        try:
            d = date(year, month, day)
            return r.named(d, d)
        except ValueError:  # "June 31": read the month alone
            pass
    if (m := r.found(rf"\b(?:in )?({_MONTH_RE})\.?(?:,? (\d{{4}}))?\b")) and (
            m.group(1) not in ("may", "mar") or m.group(2) or m.group().startswith("in ")):
        month = _MONTHS[m.group(1)]
        year = _year(int(m.group(2)) if m.group(2) else _year_for(month, r.as_of))
        last = calendar.monthrange(year, month)[1]
        return r.named(date(year, month, 1), date(year, month, last))
    if m := r.found(r"\bin (\d{4})\b"):
        y = _year(int(m.group(1)))
        return r.named(date(y, 1, 1), date(y, 12, 31))
    return None


def resolve(question: str, as_of: date) -> DateRange:
    """The date range a question's own words ask for, relative to as_of.

    A phrase whose days lie outside what a date can hold (before 0001-01-01 or after
    9999-12-31) is ignored, and the range's note says so; one that only reaches past a limit
    is cut there ("the past 1000000 days" starts on 0001-01-01)."""
    r = _Reading(question, as_of)
    latest = r.latest
    try:
        if (found := _relative_range(r)) is not None:
            return found
        if (found := _named_range(r)) is not None:
            return found
    except _OutOfRange:
        return DateRange(None, None, latest, "latest" if latest else "",
                         note=f"ignored {r.phrase!r}: dates run from {LIMITS}")
    return DateRange(None, None, latest, "latest" if latest else "")


def _year_for(month: int, as_of: date) -> int:
    """A month named without a year is the most recent one not after as_of."""
    return as_of.year if month <= as_of.month else as_of.year - 1


def day_number(d: date) -> int:
    return d.year * 10000 + d.month * 100 + d.day
def published_day(published: str | None) -> int | None:
    """'2026-10-05T09:30:00Z' -> 20261005, the integer the date filters compare."""
    if not published or len(published) < 10 or not published[:4].isdigit():
        return None
    try:
        return int(published[:10].replace("-", ""))
    except ValueError:
        return None
