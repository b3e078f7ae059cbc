"""The date resolver never raises: any phrase, any as-of date a date can hold (hypothesis)."""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rag.dates import DateRange, parse_date, resolve
from rag.errors import InvalidQuestionError

NUMBERS = st.one_of(st.integers(0, 10**12).map(str), st.sampled_from(
    ["a", "an", "one", "ten", "few", "²", "٣", "0", "00", "1" * 30]))
YEARS = st.one_of(st.integers(0, 9999).map(lambda y: f"{y:04d}"), st.sampled_from(["0000", "9999"]))
MONTHS = st.sampled_from(["january", "june", "jun", "sept", "dec", "may", "mar", "feb", "Feb."])
PHRASES = st.one_of(
    st.sampled_from(["yesterday", "today", "tonight", "this morning", "last weekend",
                     "last week", "previous week", "this week", "the past week", "last month",
                     "this month", "last year", "this year", "latest", "most recently"]),
    st.builds("the {} {} {}".format, st.sampled_from(["past", "last"]), NUMBERS,
              st.sampled_from(["day", "days", "week", "weeks", "month", "months"])),
    st.builds("in {}".format, YEARS),
    st.builds("{} {}".format, MONTHS, st.integers(0, 99)),
    st.builds("on {} {}, {}".format, MONTHS, st.integers(0, 40), YEARS),
    st.builds("in {} {}".format, MONTHS, YEARS),
    st.text(max_size=40),
)
QUESTIONS = st.lists(st.one_of(PHRASES, st.text(max_size=12)), min_size=1, max_size=4).map(" ".join)
AS_OF = st.one_of(st.dates(), st.sampled_from([date.min, date.max, date(1, 1, 7),
                                                date(9999, 12, 25)]))


@settings(max_examples=600, deadline=None)
@given(question=QUESTIONS, as_of=AS_OF)
@example("What did the council decide in 9999?", date(2026, 11, 24))
@example("What happened in the past 1000000 days?", date(2026, 11, 24))
@example("What happened in 0000?", date(2026, 11, 24))
@example("What happened last week?", date.min)
@example("Any news today?", date.max)
def test_resolve_never_raises_and_stays_in_range(question: str, as_of: date) -> None:
    r = resolve(question, as_of)
    assert isinstance(r, DateRange)
    if r.since and r.until:
        assert r.since <= r.until
    if r.note:  # an ignored phrase sets no range
        assert r.since is None and r.until is None and "0001-01-01 to 9999-12-31" in r.note
    assert r.describe()


@pytest.mark.parametrize("question, as_of, since, until", [
    ("What did the council decide in 9999?", date(2026, 11, 24), date(9999, 1, 1), date.max),
    ("What happened in the past 1000000 days?", date(2026, 11, 24), date.min, date(2026, 11, 24)),
    ("Any news today?", date.max, date.max, date.max),
])
def test_phrases_reaching_past_a_limit_are_cut_there(question, as_of, since, until) -> None:
    r = resolve(question, as_of)
    assert (r.since, r.until, r.note) == (since, until, "")


@pytest.mark.parametrize("question, as_of, phrase", [
    ("What happened in 0000?", date(2026, 11, 24), "in 0000"),
    ("What happened last week?", date.min, "last week"),
    ("What happened yesterday?", date.min, "yesterday"),
    ("What happened in June?", date(1, 3, 1), "in june"),
])
def test_phrases_outside_the_limits_are_ignored_with_a_note(question, as_of, phrase) -> None:
    r = resolve(question, as_of)
    assert r.since is None and r.until is None
    assert r.note == f"ignored {phrase!r}: dates run from 0001-01-01 to 9999-12-31"
    assert r.describe().startswith("any date (ignored")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=30), st.builds("{}-{:02d}-{:02d}".format, st.integers(0, 10**6),
                                                 st.integers(0, 13), st.integers(0, 32))))
def test_parse_date_reads_or_says_why(text: str) -> None:
    try:
        assert isinstance(parse_date(text), date | None)
    except InvalidQuestionError as e:
        assert "expected YYYY-MM-DD" in str(e) or "out of range" in str(e)


@pytest.mark.parametrize("text", ["0000-01-01", "10000-01-01", "9" * 6000 + "-01-01"])
def test_parse_date_names_the_limits(text: str) -> None:
    with pytest.raises(InvalidQuestionError, match="out of range: dates run from 0001-01-01 to "
                                                   "9999-12-31"):
        parse_date(text, "as-of date")
