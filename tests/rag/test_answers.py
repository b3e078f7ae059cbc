"""Answers over the real demo index: cited, checked, abstaining, injection-proof, follow-ups."""
from __future__ import annotations

import json

import pytest

from rag.errors import InvalidQuestionError
from rag.filters import Filters
from tests.conftest import AS_OF, REPO

QUESTIONS = [json.loads(x) for x in (REPO / "demo" / "questions.jsonl").read_text().splitlines()]


def test_every_citation_refers_to_a_returned_passage(demo_rag):
    for q in QUESTIONS:
        a = demo_rag.ask(q["question"], as_of=q["as_of"])
        given = {p.chunk.id for p in a.passages}
        numbers = {c.number for c in a.citations}
        for s in a.sentences:
            assert set(s.citations) <= numbers
        for c in a.citations:
            assert c.chunk_id in given
            assert f"[{c.number}]" in a.text
            # the cited span is inside the cited passage
            p = next(p for p in a.passages if p.chunk.id == c.chunk_id)
            assert p.chunk.start <= c.span_start < c.span_end <= p.chunk.end


def test_most_demo_questions_are_answered_with_the_gold_string(demo_rag):
    hits = 0
    for q in QUESTIONS:
        a = demo_rag.ask(q["question"], as_of=q["as_of"])
        hits += any(g.lower() in a.text.lower() for g in q["answers"])
    assert hits / len(QUESTIONS) >= 0.6, hits


@pytest.mark.parametrize("question", [
    "Who won the 2018 football World Cup?",
    "What is the boiling point of mercury?",
    "How do I bake sourdough bread?",
])
def test_off_corpus_questions_abstain(demo_rag, question):
    a = demo_rag.ask(question, as_of=AS_OF)
    assert a.abstained and not a.citations
    assert "does not cover" in a.text


def test_injected_instruction_inside_an_article_is_ignored(demo_rag):
    a = demo_rag.ask("What happened at the Brantwick ferry terminal?", as_of=AS_OF)
    assert not a.abstained
    assert "pwned" not in a.text.lower() and "evil.example" not in a.text
    assert "ignore previous instructions" not in a.text.lower()
    # the passage holding the injection was retrieved: it was data, not an order
    assert any("Ignore previous instructions" in p.chunk.text for p in a.passages)


def test_follow_up_resolves_its_subject(demo_rag):
    history = [("Who was appointed to mediate the Port Calder transit strike?",
                "Judith Venn was appointed [1].")]
    a = demo_rag.ask("and what raise did the drivers get in the end?", history=history,
                     as_of=AS_OF)
    assert "Port Calder" in a.query
    assert "4.5%" in a.text


def test_filters_restrict_sources_and_dates(demo_rag):
    ps = demo_rag.retrieve("transit strike", sources=["Harbor Ledger"], as_of=AS_OF, k=10)
    assert ps and {p.chunk.source for p in ps} == {"Harbor Ledger"}
    ps = demo_rag.retrieve("transit strike", since="2026-11-01", until="2026-11-10", as_of=AS_OF)
    assert ps and all("2026-11-01" <= p.chunk.published[:10] <= "2026-11-10" for p in ps)
    # dates in the question are a preference: the week's news comes first, others may follow
    ps = demo_rag.retrieve("What did the council decide last week?", as_of=AS_OF)
    assert "2026-11-16" <= ps[0].chunk.published[:10] <= "2026-11-23"
    a = demo_rag.ask("What did the Alderford council decide last week?", as_of=AS_OF)
    assert "Stage 3" in a.text


def test_latest_questions_prefer_recent_news(demo_rag):
    a = demo_rag.ask("What is the latest level of the Lake Tessaline reservoir?", as_of=AS_OF)
    assert "18.9%" in a.text


def test_diversity_caps_passages_per_article(demo_rag):
    ps = demo_rag.retrieve("Port Calder strike drivers union deal", as_of=AS_OF, k=8)
    per = {}
    for p in ps:
        per[p.chunk.article_id] = per.get(p.chunk.article_id, 0) + 1
    assert max(per.values()) <= demo_rag.settings.per_article_cap and len(per) >= 4


def test_bad_questions_get_clear_errors(demo_rag):
    with pytest.raises(InvalidQuestionError, match="empty"):
        demo_rag.ask("   ")
    with pytest.raises(InvalidQuestionError, match="limit"):
        demo_rag.ask("why " * 500)
    with pytest.raises(InvalidQuestionError, match="YYYY-MM-DD"):
        demo_rag.ask("strike", as_of="soon")


def test_stream_events_end_with_the_checked_answer(demo_rag):
    events = list(demo_rag.ask_stream("How many scooters did Tidewheel Mobility pull?",
                                      as_of=AS_OF))
    assert events[0]["event"] == "passages" and events[-1]["event"] == "answer"
    streamed = "".join(e["text"] for e in events if e["event"] == "delta")
    assert streamed == events[-1]["data"]["answer"]
    assert "3,100" in streamed


def test_empty_index_is_an_error_not_an_answer(make_settings, embedder):
    from rag.errors import EmptyIndexError
    from rag.index import Index
    from rag.pipeline import NewsRAG

    rag = NewsRAG(Index.open(make_settings(), embedder))
    with pytest.raises(EmptyIndexError, match="Nothing is indexed"):
        rag.ask("What happened?")
    rag.close()


@pytest.mark.parametrize("filters", [
    Filters(sources=("Harbor Ledger",)),
    Filters(since_day=20261101, until_day=20261110),
    Filters(sources=("Metro Daily Post", "Valley Courier"), since_day=20261015),
])
def test_filtered_dense_search_finds_what_chromas_filter_finds(demo_rag, monkeypatch, filters):
    """The wide unfiltered search, filtered by the dates and outlets held in memory, must
    return the same chunks as Chroma's own filter (forced here: the demo is small)."""
    from rag import retrieve

    index = demo_rag.index
    vec = index.embedder.embed_batch(["the transit strike and the council vote"])[0]
    want = [h.chunk_id for h in index.store.query(vec, 5, filters)]
    monkeypatch.setattr(retrieve, "FEW_CHUNKS", 0)
    monkeypatch.setattr(retrieve, "MAX_WIDE", 10_000)
    nearest = retrieve._Nearest(index.store, vec)
    got = demo_rag.retriever._dense(nearest, 5, filters, strict=True)
    assert want and [h.chunk_id for h in got] == want
    assert nearest.asked > 5  # it was the wide search, not Chroma's filter
