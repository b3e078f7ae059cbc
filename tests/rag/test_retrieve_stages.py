"""Retrieval as named stages, each timed; the stages compose to what `retrieve` returns."""
from __future__ import annotations

from datetime import date

from rag.dates import DateRange
from rag.retrieve import _Work, make_filters


def test_every_stage_is_timed(demo_rag) -> None:
    r = demo_rag.retriever.retrieve(
        "What is the latest on the Port Calder transit strike?", k=5,
        filters=make_filters(None, None, None), dates=DateRange(latest=True, phrase="latest"),
        as_of=date(2026, 11, 24))
    assert {"embed_query", "dense", "lexical", "fuse", "boost", "diversify"} <= set(r.timings)
    assert len(r.passages) == 5 and all(v >= 0 for v in r.timings.values())


def test_the_stages_by_hand_give_the_same_passages(demo_rag) -> None:
    ret = demo_rag.retriever
    q = "How much will the Orrin Valley rail tunnel cost?"
    none = make_filters(None, None, None)
    whole = ret.retrieve(q, k=4, filters=none, dates=DateRange(), as_of=date(2026, 11, 24))
    w = _Work(query=q, n=max(ret.candidates, 16), filters=none, prefer=None)
    ret.dense(w)
    ret.lexical(w)
    ret.fuse(w)
    ret.boost(w, date(2026, 11, 24), ret.prior, ret.prior_half_life, True)  # the recency prior
    by_hand = ret.diversify(w, 4, per_article_cap=2)
    assert [p.chunk.id for p in by_hand] == [p.chunk.id for p in whole.passages]
    assert "tunnel" in by_hand[0].chunk.text.lower()
    # each ranking on its own is a list of chunk ids the fusion saw
    assert set(w.rankings) == {"dense", "lexical"} and set(w.rankings["dense"]) <= set(w.fused)


def test_the_recency_prior_lifts_newer_news_and_does_not_sink_undated_news(demo_rag) -> None:
    from types import SimpleNamespace

    ret = demo_rag.retriever
    assert ret.prior > 0  # on by default (docs/eval/README.md)

    def work():
        w = _Work(query="q", n=4, filters=make_filters(None, None, None), prefer=None)
        w.fused = {"old": 1.0, "new": 0.9, "undated": 0.95, "mid": 0.5}
        w.chunks = {"old": SimpleNamespace(published="2023-11-24"),
                    "new": SimpleNamespace(published="2026-11-20"),
                    "undated": SimpleNamespace(published=None),
                    "mid": SimpleNamespace(published="2025-11-24")}
        w.sort()
        return w

    w = work()
    ret.boost(w, date(2026, 11, 24), 0.5, 365.0, True)
    assert w.order[0] == "new"  # a year's half-life: this week's news passes the 3-year-old
    # the undated chunk gains what the median dated one does (the 2025 one), not nothing
    assert w.fused["undated"] / 0.95 == w.fused["mid"] / 0.5
    assert w.order.index("undated") < w.order.index("old")
    w = work()
    ret.boost(w, date(2026, 11, 24), 0.5, 14.0)  # "latest": undated news gains nothing
    assert w.fused["undated"] == 0.95 and w.order[0] == "new"


def test_diversify_keeps_the_per_article_cap(demo_rag) -> None:
    ret = demo_rag.retriever
    w = _Work(query="Port Calder transit strike", n=40, filters=make_filters(None, None, None),
              prefer=None)
    ret.dense(w)
    ret.lexical(w)
    ret.fuse(w)
    for cap in (1, 2):
        got = ret.diversify(w, 10, per_article_cap=cap)
        per = {}
        for p in got:
            per[p.chunk.article_id] = per.get(p.chunk.article_id, 0) + 1
        assert max(per.values()) == cap


def test_a_question_is_read_once_into_a_query(demo_rag) -> None:
    from rag.errors import InvalidQuestionError

    q = demo_rag.query("  What did the Port Calder\u200b transit strike   cost last week? ",
                       as_of="2026-11-24")
    assert q.question == "What did the Port Calder transit strike cost last week?"
    assert q.as_of == date(2026, 11, 24) and q.filters.is_empty()
    assert q.prefer is not None and q.dates.since == date(2026, 11, 16)  # a preference
    pinned = demo_rag.query("What did the strike cost?", since="2026-11-01", until="2026-11-20",
                            as_of="2026-11-24")
    assert pinned.prefer is None and not pinned.filters.is_empty()
    for bad in ("\u200b\u200b", "   ", "x" * (demo_rag.settings.max_question_chars + 1)):
        try:
            demo_rag.query(bad)
        except InvalidQuestionError:
            pass
        else:
            raise AssertionError(f"{bad[:10]!r} was read as a question")


def test_two_stories_on_one_template_both_stay_when_the_name_asked_differs(
        make_settings, embedder, tmp_path) -> None:
    """A near-repeat is dropped only when it adds none of the question's words: the same
    notice for two lighthouses differs in just the place asked about."""
    import json

    from ingest.run import ingest
    from rag.index import Index
    from rag.pipeline import NewsRAG
    from rag.retrieve import _similar

    def story(place: str, keeper: str) -> str:
        return (f"{keeper}, the keeper of the {place} lighthouse for thirty-one years, retired "
                "on Friday after the council automated the light. Fishing crews gathered on the "
                "quay to thank the keeper with a brass bell. A plaque will be placed at the foot "
                "of the tower in the spring, the harbour master said.")

    rows = [{"title": f"{p} lighthouse keeper retires", "text": story(p, k),
             "url": f"https://coast.example/{p.lower()}", "published_at": "2026-11-20",
             "source": "Coast Courier"}
            for p, k in (("Quillbrook", "Marisol Venn"), ("Marrowfen", "Tobias Ashgrove"))]
    feed = tmp_path / "coast.jsonl"
    feed.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    a, b = story("Quillbrook", "Marisol Venn"), story("Marrowfen", "Tobias Ashgrove")
    assert _similar(b, a)  # a repeat for a question that names neither place
    assert not _similar(b, a, asked=frozenset({"marrowfen", "lighthouse"}))
    rag = NewsRAG(Index.open(make_settings(), embedder))
    try:
        assert ingest(rag.index, [feed]).ingested == 2
        for place, keeper in (("Marrowfen", "Tobias Ashgrove"), ("Quillbrook", "Marisol Venn")):
            q = f"Who retired as keeper of the {place} lighthouse?"
            assert any(place in p.chunk.text for p in rag.retrieve(q, as_of="2026-11-24"))
            answer = rag.ask(q, as_of="2026-11-24")
            assert answer.text.startswith(keeper), answer.text
    finally:
        rag.close()


def test_every_picked_passage_has_its_closeness_in_meaning(demo_rag) -> None:
    """A passage only BM25 found gets its cosine to the question from its stored vector, the
    same figure the dense search gives the passages it found."""
    import numpy as np

    ret = demo_rag.retriever
    q = "Quokka harbour pilots strike ballot"  # rare words: BM25 finds passages dense does not
    w = _Work(query=q, n=4, filters=make_filters(None, None, None), prefer=None)
    ret.dense(w)
    ret.lexical(w)
    ret.fuse(w)
    picked = ret.diversify(w, 8, per_article_cap=2)
    assert picked and all("dense" in p.scores for p in picked)
    lexical_only = [p for p in picked if p.chunk.id not in w.dense_sims]
    assert lexical_only, "the test needs a passage the dense search (n=4) did not return"
    stored = demo_rag.index.store.vectors([p.chunk.id for p in picked])
    v = np.asarray(w.vector, np.float32)
    for p in picked:
        want = float(np.dot(v, stored[p.chunk.id]) / np.linalg.norm(v)
                     / np.linalg.norm(stored[p.chunk.id]))
        assert abs(p.scores["dense"] - want) < 1e-4


def test_a_batch_with_vectors_for_some_articles_only_is_refused(make_settings, embedder) -> None:
    import numpy as np
    import pytest

    from rag.index import ArticleWrite, Index
    from rag.types import Article, Chunk

    index = Index.open(make_settings(), embedder)
    try:
        arts = [Article(f"a{i}", f"Title {i}", f"Text {i}.", content_hash=f"h{i}") for i in (1, 2)]
        writes = [ArticleWrite(a, None, [Chunk(f"{a.id}-0000", a.id, 0, a.text, 0, len(a.text),
                                              a.title)]) for a in arts]
        writes[0].vectors = np.ones((1, embedder.dimension), np.float32)
        with pytest.raises(ValueError, match="every article"):
            index.write_batch(writes)
        writes[1].vectors = np.ones((2, embedder.dimension), np.float32)
        with pytest.raises(ValueError, match="2 vectors for 1 chunks"):
            index.write_batch(writes)
        assert index.catalog.counts()["articles"] == 0 and index.catalog.pending_articles() == []
    finally:
        index.close()
