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
    r"update on|still)\b", re.I)


@dataclass(frozen=True)
class DateRange:
    since: date | None = None
    until: date | None = None
    latest: bool = False  # the question asks for the most recent news: recency counts
    phrase: str = ""  # the words that set the range, for display

    def describe(self) -> str:
        if self.since and self.until:
            return f"{self.since.isoformat()} .. {self.until.isoformat()}"
        if self.since:
            return f"since {self.since.isoformat()}"
        if self.until:
            return f"until {self.until.isoformat()}"
        return "any date"


def parse_date(value: str | date | None, what: str = "date") -> date | None:
    """'2026-11-24', '2022/06/16', a date or a datetime -> date; a clear error otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"):
        try:
            return datetime.strptime(text[:10] if fmt != "%Y%m%d" else text[:8], fmt).date()
        except ValueError:
            continue
    raise InvalidQuestionError(f"Cannot read the {what} {value!r}: expected YYYY-MM-DD")


def _week_start(d: date) -> date:
    return d - timedelta(days=d.weekday())


def resolve(question: str, as_of: date) -> DateRange:
    """The date range a question's own words ask for, relative to as_of."""
    q = question.lower()
    latest = bool(_LATEST.search(q))

    def rng(since: date | None, until: date | None, phrase: str) -> DateRange:
        # news of an event appears the day after: widen the window by one day
        until = until + timedelta(days=1) if until else None
        return DateRange(since, min(until, as_of) if until else as_of, latest, phrase)

    def named(since: date, until: date, phrase: str) -> DateRange:
        # a named date is when something happened; reports follow within a few days
        return DateRange(since, until + timedelta(days=REPORTING_LAG_DAYS), latest, phrase)

    if m := re.search(r"\byesterday\b", q):
        d = as_of - timedelta(days=1)
        return rng(d, d, m.group())
    if m := re.search(r"\b(today|tonight|this morning)\b", q):
        return rng(as_of, as_of, m.group())
    if m := re.search(r"\blast weekend\b", q):
        sat = _week_start(as_of) - timedelta(days=2)
        return rng(sat, sat + timedelta(days=1), m.group())
    if m := re.search(r"\b(last|previous) week\b", q):
        start = _week_start(as_of) - timedelta(days=7)
        return rng(start, start + timedelta(days=6), m.group())
    if m := re.search(r"\b(this|the past) week\b", q):
        # "this week" in news means the last seven days, whatever the weekday
        return rng(as_of - timedelta(days=6), as_of, m.group())
    if m := re.search(r"\b(?:in |over |during )?the (?:last|past) (\w+) (day|week|month)s?\b", q):
        n = _NUMBERS.get(m.group(1)) or (int(m.group(1)) if m.group(1).isdigit() else None)
        if n:
            days = n * {"day": 1, "week": 7, "month": 30}[m.group(2)]
            return rng(as_of - timedelta(days=days), as_of, m.group())
    if m := re.search(r"\b(last|previous) month\b", q):
        first = as_of.replace(day=1)
        end = first - timedelta(days=1)
        return rng(end.replace(day=1), end, m.group())
    if m := re.search(r"\bthis month\b", q):
        return rng(as_of.replace(day=1), as_of, m.group())
    if m := re.search(r"\blast year\b", q):
        y = as_of.year - 1
        return rng(date(y, 1, 1), date(y, 12, 31), m.group())
    if m := re.search(r"\bthis year\b", q):
        return rng(date(as_of.year, 1, 1), as_of, m.group())
    if m := re.search(rf"\b(?:on )?({_MONTH_RE})\.? (\d{{1,2}})(?:st|nd|rd|th)?(?:,? (\d{{4}}))?\b", q):
        month, day = _MONTHS[m.group(1)], int(m.group(2))
        year = int(m.group(3)) if m.group(3) else _year_for(month, as_of)
        try:
            d = date(year, month, day)
            return named(d, d, m.group())
        except ValueError:
            pass
    if m := re.search(rf"\b(?:in )?({_MONTH_RE})\.?(?:,? (\d{{4}}))?\b", q):
        if m.group(1) not in ("may", "mar") or m.group(2) or m.group().startswith("in "):
            month = _MONTHS[m.group(1)]
            year = int(m.group(2)) if m.group(2) else _year_for(month, as_of)
            last = calendar.monthrange(year, month)[1]
            return named(date(year, month, 1), date(year, month, last), m.group())
    if m := re.search(r"\bin (\d{4})\b", q):
        y = int(m.group(1))
        return named(date(y, 1, 1), date(y, 12, 31), m.group())
    return DateRange(None, None, latest, "latest" if latest else "")


def _year_for(month: int, as_of: date) -> int:
    """A month named without a year is the most recent one not after as_of."""
    return as_of.year if month <= as_of.month else as_of.year - 1


def day_number(d: date) -> int:
    return d.year * 10000 + d.month * 100 + d.day
