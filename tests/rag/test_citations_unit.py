"""Citation parsing and checking on hand-made passages (no index needed)."""
from __future__ import annotations

from rag.citations import CitationChecker, SupportScorer, split_answer
from rag.types import Chunk, Passage


def _p(i: int, text: str) -> Passage:
    return Passage(Chunk(f"a{i}-0000", f"a{i}", 0, text, 100, 100 + len(text), f"T{i}"), 1.0)


PASSAGES = [
    _p(1, "The union said 78% of members approved the deal. Buses run again on Monday."),
    _p(2, "Lake Tessaline rose to 18.9% of capacity after the rain."),
]


def test_split_answer_attaches_trailing_markers():
    assert split_answer("A is true. [1] B is true [2][3]. C.") == [
        ("A is true.", [1]), ("B is true.", [2, 3]), ("C.", [])]


def test_checker_removes_unknown_numbers_and_unsupported_sentences():
    checker = CitationChecker(SupportScorer())
    draft = ("Members approved the deal with 78% in favour [1]. The lake rose to 18.9% [7]. "
             "The mayor resigned in disgrace [2].")
    out = checker.check(draft, PASSAGES, {})
    # [7] names no given passage: never shown; the mayor claim is not in passage 2: dropped
    assert [s.text for s in out.sentences] == ["Members approved the deal with 78% in favour."]
    assert [c.number for c in out.citations] == [1]
    c = out.citations[0]
    assert c.article_id == "a1"
    span = PASSAGES[0].chunk.text[c.span_start - 100:c.span_end - 100]
    assert "78% of members approved" in span
    assert "[7]" not in out.text and "mayor" not in out.text


def test_checker_renumbers_in_order_of_first_use_and_can_mark():
    checker = CitationChecker(SupportScorer(), unsupported="mark")
    out = checker.check("Lake Tessaline rose to 18.9% [2]. Aliens landed [1].", PASSAGES, {})
    assert out.text == "Lake Tessaline rose to 18.9%. [1] Aliens landed. (unverified)"
    assert out.citations[0].article_id == "a2"
    assert not out.sentences[1].supported


def test_a_quoted_sentence_without_a_full_stop_ends_at_its_marker():
    """A paragraph that ends without a full stop in its article is quoted as it stands: its
    marker, then a capital, ends it, so it is checked against its own passage."""
    text = "The hitch was faulty [1] Owners should park outside. [1]"
    assert split_answer(text) == [("The hitch was faulty", [1]),
                                  ("Owners should park outside.", [1])]
    # a marker inside a sentence, before lower case, does not end it
    assert split_answer("Prices rose 5% [1] and then fell. [2]") == [
        ("Prices rose 5% and then fell.", [1, 2])]
    passage = _p(1, "Regulators said the hitch was faulty\n\nOwners should park outside.")
    checked = CitationChecker(SupportScorer()).check(text, [passage], {})
    assert [s.supported for s in checked.sentences] == [True, True]
