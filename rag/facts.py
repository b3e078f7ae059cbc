"""The checkable facts of a sentence: numbers with their units, dates, names, negations and
quantifiers. Citations are held to them (a claim's facts must agree with its passage) and the
extractive answerer looks among them for the kind of answer a question asks for."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from itertools import pairwise

from rag.text import STOPWORDS

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")
_MONTH_ABBR = {m[:3]: m for m in MONTHS} | {"sept": "september"}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "dozen": 12,
}
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
            "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10}
# a unit word after a number, normalised: "14.2 km" and "14.2 kilometres" agree
UNITS = {
    "%": "percent", "percent": "percent", "per cent": "percent", "percentage": "percent",
    "million": "million", "m": "million", "mn": "million", "billion": "billion", "bn": "billion",
    "trillion": "trillion", "thousand": "thousand", "k": "thousand",
    "euro": "euro", "euros": "euro", "€": "euro", "dollar": "dollar", "dollars": "dollar",
    "$": "dollar", "pound": "pound", "pounds": "pound", "£": "pound", "yen": "yen",
    "km": "km", "kilometre": "km", "kilometres": "km", "kilometer": "km", "kilometers": "km",
    "mile": "mile", "miles": "mile", "metre": "m", "metres": "m", "meter": "m", "meters": "m",
    "day": "day", "days": "day", "week": "week", "weeks": "week", "month": "month",
    "months": "month", "year": "year", "years": "year", "hour": "hour", "hours": "hour",
    "minute": "minute", "minutes": "minute", "second": "second", "seconds": "second",
    "people": "people", "units": "unit", "unit": "unit", "litres": "litre", "litre": "litre",
    "acres": "acre", "acre": "acre", "tonnes": "tonne", "tons": "tonne",
}
NEGATIONS = frozenset({"not", "no", "never", "none", "nobody", "nothing", "neither", "nor",
                       "cannot", "without", "n't"})
QUANTIFIERS = frozenset({"unanimously", "unanimous", "all", "every", "everyone", "everybody",
                         "always", "never", "none", "only", "entire", "whole", "nobody",
                         "majority", "most", "both"})

_NUM = re.compile(
    r"(?P<cur>[$€£])?\s?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?:st|nd|rd|th)?"
    r"(?:\s?(?P<pct>%|percent\b|per cent\b))?"
    r"(?:\s?(?P<scale>million|billion|trillion|thousand|bn|mn|m|k)\b)?", re.IGNORECASE)
_TOKEN = re.compile(r"[A-Za-z][A-Za-z'’\-.]*[A-Za-z]|[A-Za-z]|\d[\d,.]*\d|\d|[$€£%]")
# a hyphenated name keeps its digits ("Covid-19", not "Covid-")
_CAPITAL = re.compile(r"\b(?:[A-Z][a-zA-Z'’]*(?:-[a-zA-Z0-9]+)+|[A-Z][a-zA-Z'’]+|[A-Z]{2,}s?|"
                      r"[A-Z]\.(?:[A-Z]\.)+)")
NAME_SLACK_FROM = 99  # names in a claim from which one may be absent (measured: README)
ORDER_CHECK = True
_NEG_CONTRACTION = re.compile(r"n['’]t\b", re.IGNORECASE)


@dataclass(frozen=True)
class Facts:
    numbers: tuple[tuple[str, str | None], ...]  # (value, unit) in order of appearance
    dates: frozenset[str]  # months and weekdays named
    names: tuple[str, ...]  # capitalised words (lower-cased), in order
    negations: int
    quantifiers: frozenset[str]


def number_value(text: str) -> str:
    """'1,850' -> '1850', '14.20' -> '14.2', 'nine' -> '9'."""
    t = text.lower().replace(",", "")
    if t in NUMBER_WORDS:
        return str(NUMBER_WORDS[t])
    if "." in t:
        t = t.rstrip("0").rstrip(".")
    return t.lstrip("0") or "0"


def _unit_after(text: str, end: int) -> str | None:
    m = re.match(r"[\s\-]*([A-Za-z%€$£]+(?:\s+cent\b)?)", text[end:end + 20])
    if not m:
        return None
    word = m.group(1).lower()
    return UNITS.get(word)


def numbers(text: str) -> list[tuple[str, str | None]]:
    """(value, unit) of every number: digits, and number words before a unit or a noun."""
    out: list[tuple[str, str | None]] = []
    for m in _NUM.finditer(text):
        value = number_value(m.group("num"))
        if m.group("scale"):
            scale = m.group("scale").lower()
            value += " " + {"bn": "billion", "mn": "million", "m": "million",
                            "k": "thousand"}.get(scale, scale)
        if m.group("pct"):
            unit: str | None = "percent"
        elif m.group("cur"):
            unit = UNITS[m.group("cur")]
        else:
            unit = _unit_after(text, m.end())
        out.append((value, unit))
    for m in re.finditer(r"\b(" + "|".join(NUMBER_WORDS) + r")\b", text, re.IGNORECASE):
        word = m.group(1).lower()
        if word in ("one", "hundred", "dozen"):  # "one of", "hundreds": too loose to pin
            continue
        out.append((str(NUMBER_WORDS[word]), _unit_after(text, m.end())))
    return out


_MONTH_WORD = (r"(?:" + "|".join(MONTHS) + "|" + "|".join(rf"{a}\." for a in _MONTH_ABBR)
               + ")")
_MONTH_DAY = re.compile(
    rf"\b(?P<m1>{_MONTH_WORD})\s+(?P<d1>[0-3]?\d)(?:st|nd|rd|th)?\b(?!\s*[:.]\d)|"
    rf"\b(?P<d2>[0-3]?\d)(?:st|nd|rd|th)?(?:\s+of)?\s+(?P<m2>{_MONTH_WORD})(?![a-z])")


def dates(text: str) -> set[str]:
    low = text.lower()
    found = {m for m in MONTHS if re.search(rf"\b{m}\b", low)}
    found |= {full for ab, full in _MONTH_ABBR.items() if re.search(rf"\b{ab}\.", low)}
    found |= {d for d in WEEKDAYS if re.search(rf"\b{d}\b", low)}
    if "may" in found and not re.search(r"\bmay\s+\d|\d\s+may\b|\bin\s+may\b", low):
        found.discard("may")  # the verb
    # the day of a month, whichever way round: "October 5" and "5 October" are "october 5", so
    # a claim's "October 12" needs a 12 October in its passage, not any 12 (its dateline's day)
    for m in _MONTH_DAY.finditer(low):
        month = m.group("m1") or m.group("m2")
        month = _MONTH_ABBR.get(month.rstrip("."), month.rstrip("."))
        found.add(f"{month} {int(m.group('d1') or m.group('d2'))}")
    return found


def names(text: str) -> list[str]:
    """Capitalised words that are not sentence openers, months or common words."""
    out = []
    for m in _CAPITAL.finditer(text):
        word = m.group()
        low = word.lower().rstrip("'’s") if word.endswith(("'s", "’s")) else word.lower()
        if low in STOPWORDS or low in MONTHS or low in WEEKDAYS or low in NEGATIONS:
            continue
        if _sentence_start(text, m.start()) and not word.isupper():
            continue
        out.append(low.replace(".", ""))  # "U.S." and "US" are one name
    return out


def _sentence_start(text: str, pos: int) -> bool:
    before = text[:pos].rstrip(" \"'“‘(")
    return not before or before[-1] in ".!?:\n"


def negations(text: str) -> int:
    toks = [t.lower() for t in _TOKEN.findall(text)]
    return sum(t in NEGATIONS for t in toks) + len(_NEG_CONTRACTION.findall(text))


def quantifiers(text: str) -> set[str]:
    return {t.lower() for t in _TOKEN.findall(text)} & QUANTIFIERS


def facts(text: str) -> Facts:
    return Facts(tuple(numbers(text)), frozenset(dates(text)), tuple(names(text)),
                 negations(text), frozenset(quantifiers(text)))


def published_words(published: str | None) -> str:
    """An article's date as words ("Friday 20 November 2026"): what a claim may say of it."""
    if not published:
        return ""
    try:
        d = date.fromisoformat(published[:10])
    except ValueError:
        return ""
    return f"{WEEKDAYS[d.weekday()]} {d.day} {MONTHS[d.month - 1]} {d.year}"


def _name_in(name: str, haystack_words: set[str], haystack: str) -> bool:
    if name in haystack_words:
        return True
    # "European" for "Europe", "Ukrainian" for "Ukraine": a shared stem of five letters or more
    stem5 = name[: max(5, len(name) - 3)]
    return len(name) >= 5 and any(w.startswith(stem5) for w in haystack_words)


def conflicts(claim: str, passage: str, span: str | None = None, window: str | None = None,
              published: str | None = None, title: str = "") -> list[str]:
    """What in the claim its passage contradicts or lacks: a number or unit, a date, a name,
    a negation or quantifier, or the order of two names (who did what to whom). Empty when the
    claim's facts agree. `span` is the passage sentence best matching the claim, `window` the
    best sentence or pair (a claim may join two sentences)."""
    out: list[str] = []
    span = span if span is not None else passage
    window = window if window is not None else span
    context = f"{title}\n{passage}\n{published_words(published)}"
    if published:
        context += f" {published[:10]}"
    c = facts(claim)
    have_nums: dict[str, set[str | None]] = {}
    for v, u in numbers(context):
        have_nums.setdefault(v, set()).add(u)
        have_nums.setdefault(v.split(" ")[0], set()).add(u)
    for v, u in c.numbers:
        units = have_nums.get(v)
        if units is None:
            out.append(f"number {v}")
        elif u is not None and None not in units and u not in units:
            out.append(f"unit of {v}")
    missing = c.dates - dates(context)
    out += [f"date {d}" for d in sorted(missing)]
    words_here = {t.lower().replace(".", "") for t in _TOKEN.findall(context)}
    words_here |= {w.rstrip("s") for w in words_here}
    claim_names = list(dict.fromkeys(c.names))
    absent = [n for n in claim_names if not _name_in(n, words_here, context)]
    # a paraphrase may add a first name or a title ("President Joe Biden" for "Biden"): with
    # several names, one absent is tolerated when the others are all there
    if absent and not (len(claim_names) >= NAME_SLACK_FROM and len(absent) == 1):
        out += [f"name {n}" for n in absent]
    if c.negations and not negations(window) or not c.negations and negations(span):
        out.append("negation")
    out += [f"quantifier {q}" for q in sorted(c.quantifiers - quantifiers(context))]
    if ORDER_CHECK:
        out += _order_conflicts(c.names, names(window))
    return out


def _order_conflicts(claim_names: tuple[str, ...], span_names: list[str]) -> list[str]:
    """Two names the claim and its span share must come in the same order ("A beat B")."""
    shared = [n for n in dict.fromkeys(claim_names) if n in span_names]
    if len(shared) < 2:
        return []
    first = {n: span_names.index(n) for n in shared}
    for a, b in pairwise(shared):
        if first[a] > first[b]:
            return [f"order of {a} and {b}"]
    return []
