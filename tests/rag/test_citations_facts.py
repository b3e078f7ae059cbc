"""A citation holds only when the claim's facts agree with its passage: hard negatives cited to
the right passage (a wrong number, date, name, vote or stance) are not shown as sourced."""
from __future__ import annotations

import random

import pytest

from eval.grounding import CheckPair, LearnedJudge, check_judge
from eval.negatives import hard_negatives
from rag.citations import CitationChecker, SupportScorer, split_complete
from rag.facts import conflicts, numbers
from rag.types import Chunk, Passage

TUNNEL = ("The Orrin Valley regional assembly voted 38 to 11 on Thursday to approve the rail "
          "tunnel. Construction is expected to cost 14.2 million euros a kilometre, and the "
          "tunnel will run 2.3 kilometres under the ridge. The council voted nine to four to "
          "back the plan. Mayor Ilse Brandt did not attend the vote. Works start in March 2027.")


def _p(text: str, published: str | None = "2026-11-12", title: str = "Assembly backs tunnel"):
    return Passage(Chunk("a1-0000", "a1", 0, text, 0, len(text), title, "Valley Courier",
                         published), 1.0)


@pytest.fixture(scope="module")
def checker(embedder):
    return CitationChecker(SupportScorer())


@pytest.mark.parametrize("claim, why", [
    ("Construction is expected to cost 41.2 million euros a kilometre [1].", "number"),
    ("Construction is expected to cost 14.2 million dollars a kilometre [1].", "unit"),
    ("The council voted unanimously to back the plan [1].", "quantifier"),
    ("The council voted nine to five to back the plan [1].", "number"),
    ("Mayor Ilse Brandt attended the vote [1].", "negation"),
    ("The assembly did not approve the rail tunnel [1].", "negation"),
    ("Mayor Petra Lund did not attend the vote [1].", "name"),
    ("Works start in April 2027 [1].", "date"),
    ("Works start in March 2028 [1].", "date"),
])
def test_a_wrong_fact_cited_to_the_right_passage_is_not_sourced(checker, claim, why):
    out = checker.check(claim, [_p(TUNNEL)], {})
    assert not out.sentences and not out.citations, (why, out)


@pytest.mark.parametrize("claim", [
    "Construction is expected to cost 14.2 million euros a kilometre [1].",
    "The council voted nine to four to back the plan [1].",
    "The Orrin Valley assembly voted 38 to 11 to approve the rail tunnel [1].",
    "Mayor Ilse Brandt did not attend the vote [1].",
    "On 12 November, the assembly voted 38 to 11 to approve the tunnel [1].",  # the article date
])
def test_a_true_claim_keeps_its_citation(checker, claim):
    out = checker.check(claim, [_p(TUNNEL)], {})
    assert [s.citations for s in out.sentences] == [(1,)], out


def test_the_order_of_who_did_what_to_whom_counts():
    passage = "Harbor City beat Orrin Valley 3-1 on Sunday in the cup final."
    assert conflicts("Orrin Valley beat Harbor City 3-1.", passage, span=passage)
    assert not conflicts("Harbor City beat Orrin Valley 3-1.", passage, span=passage)


def test_initials_with_or_without_their_dots_are_one_name():
    """"US" in a claim is the passage's "U.S." (and the other way round): a lacking name until
    2026-12-04, which rejected RealTime QA's true claims on it."""
    passage = "He was sentenced, according to Assistant U.S. Attorney Joseph Fitzpatrick."
    assert not conflicts("He was sentenced, according to Assistant US Attorney Joseph "
                         "Fitzpatrick.", passage)
    assert not conflicts("U.S. officials said so.", "US officials said so on Monday.")
    assert conflicts("UK officials said so.", "US officials said so on Monday.") == ["name uk"]


def test_numbers_are_read_with_their_units():
    assert numbers("a 4.5% raise, $38 million, 1,850 drivers, 2.3 billion euros") == [
        ("4.5", "percent"), ("38 million", "dollar"), ("1850", None), ("2.3 billion", "euro")]


def test_an_uncited_sentence_or_short_answer_gets_the_passage_that_supports_it(checker):
    other = _p("Ferry tickets now cost $7.40 for a single trip.", title="Ferry fares")
    out = checker.check("The tunnel will run 2.3 kilometres under the ridge.",
                        [other, _p(TUNNEL)], {})
    assert [(s.citations, s.attached) for s in out.sentences] == [((1,), True)]
    assert out.citations[0].chunk_id == "a1-0000"
    out = checker.check("14.2 million euros", [other, _p(TUNNEL)], {})
    assert out.sentences[0].attached and out.sentences[0].citations == (1,)
    assert out.sentences[0].text.startswith("14.2 million euros: Construction is expected")
    # a wrong short answer finds no passage: not shown
    assert not checker.check("41.2 million euros", [other, _p(TUNNEL)], {}).sentences


def test_hard_negatives_are_built_and_caught(embedder):
    claim = "The Orrin Valley regional assembly voted 38 to 11 on Thursday to approve the tunnel."
    made = hard_negatives(claim, TUNNEL, random.Random(3), ["Greyhaven", "Petra Lund"])
    kinds = {k for k, _ in made}
    assert {"number", "date", "negation"} <= kinds
    assert all(changed != claim for _, changed in made)
    judge = LearnedJudge()
    pairs = [CheckPair(claim, TUNNEL, True, "q", "true")] + [
        CheckPair(c, TUNNEL, False, "q", k) for k, c in made]
    check = check_judge(judge, pairs)
    assert check["true_recall"] == 1.0
    assert check["hard"]["accuracy"] == 1.0 and check["hard"]["pairs"] == len(made)


def _streamed(pieces: list[str]) -> list[str]:
    """The texts a stream of pieces is checked in, as the pipeline cuts them."""
    pending, done = "", []
    for piece in pieces:
        pending += piece
        complete, pending = split_complete(pending)
        if complete:
            done.append(complete)
    return [*done, pending]


def test_streamed_pieces_keep_their_spaces_on_either_side():
    for pieces in (["The ", "Tidewater ", "ferry ", "resumed. ", "Construction ", "is ", "late."],
                   ["The", " Tidewater", " ferry", " resumed.", " Construction", " is", " late."]):
        done = _streamed(pieces)
        assert "".join(done).split() == ["The", "Tidewater", "ferry", "resumed.", "Construction", "is", "late."]
        assert "".join(done).strip() == "The Tidewater ferry resumed. Construction is late."


def test_markers_streamed_after_the_full_stop_stay_with_their_sentence(checker):
    """'... a kilometre. [1' then '] Works ...': the sentence waits for its markers (they were
    split off as a text of their own and lost, so the sentence was attached, not checked)."""
    pieces = ["Construction is expected to cost 14.2 million euros a kilometre.", " [",
              "1", "]", " Works", " start", " in", " March", " 2027.", " [1]"]
    done = _streamed(pieces)
    assert done[0].strip().endswith("kilometre. [1]"), done
    checked = [checker.check(d, [_p(TUNNEL)], {}) for d in done]
    assert [s.citations for c in checked for s in c.sentences] == [(1,), (1,)]
    assert not any(s.attached for c in checked for s in c.sentences)


def test_a_claim_is_verbatim_only_in_whole_words(checker):
    """'2' is not a quote of a passage holding '2027' or '2.3': it is checked, and refused."""
    assert not checker.check("2 [1].", [_p(TUNNEL)], {}).sentences
    assert checker.check("Works start in March 2027 [1].", [_p(TUNNEL)], {}).sentences


def test_each_sentence_carries_the_span_it_rests_on(checker):
    checked = checker.check("The council voted nine to four to back the plan [1]. Works start in "
                            "March 2027 [1].", [_p(TUNNEL)], {})
    spans = [s.spans for s in checked.sentences]
    assert [TUNNEL[a:b] for (_, a, b), in spans] == [
        "The council voted nine to four to back the plan.", "Works start in March 2027."]
    assert all(n == 1 for (n, _, _), in spans)


def test_unverified_goes_after_the_whole_sentence_not_inside_it():
    strike = "The strike will begin at 4 a.m. on Monday, October 5, the union said."
    marking = CitationChecker(SupportScorer(), unsupported="mark", attach=False)
    checked = marking.check('The strike will begin at 4 a.m. on Monday, October 12 [1]. Okafor '
                            'said "we walk out at 4 a.m." The union said so [1].',
                            [_p(strike)], {})
    assert checked.text.startswith(
        "The strike will begin at 4 a.m. on Monday, October 12. (unverified) ")
    assert 'Okafor said "we walk out at 4 a.m." (unverified)' in checked.text
    assert "a.m. (unverified) on" not in checked.text
