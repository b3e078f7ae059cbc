"""The LexicalIndex protocol, run against the in-memory BM25 and the catalog's FTS5 copy."""
from __future__ import annotations

from rag.filters import Filters
from rag.protocols import LexicalIndex
from tests.contracts.conftest import article, store_article

STORIES = [
    ["Quillbrook lighthouse keepers counted gannets on the cliffs.",
     "The council will repaint the lighthouse next spring."],
    ["Tidewater dockers voted 412 to 187 to accept the pay deal.",
     "The port expects normal sailings from Thursday."],
    ["The Orrin Valley rail tunnel will cost 2.3 billion euros.",
     "Engineers expect the tunnel boring machine in March."],
]


def _fill(catalog):
    sources = ["Gazette", "Courier", "Gazette"]
    days = ["2026-11-20", "2026-10-05", "2026-09-01"]
    out = []
    for n, (paras, src, day) in enumerate(zip(STORIES, sources, days)):
        art, chunks = article(n, paras, source=src, published=day)
        store_article(catalog, art, chunks)
        out.append(chunks)
    return out


def test_a_rare_term_finds_its_chunk_first(catalog, make_lexical):
    chunks = _fill(catalog)
    lex = make_lexical(catalog)
    assert isinstance(lex, LexicalIndex)
    hits = lex.search("gannets", 5)
    assert [c for c, _ in hits] == [chunks[0][0].id]
    hits = lex.search("tunnel cost euros", 5)
    assert hits[0][0] == chunks[2][0].id
    assert all(s > 0 for _, s in hits) and [s for _, s in hits] == sorted(
        (s for _, s in hits), reverse=True)
    assert len(lex.search("lighthouse tunnel dockers port council", 2)) == 2


def test_no_content_words_no_hits(catalog, make_lexical):
    _fill(catalog)
    lex = make_lexical(catalog)
    assert lex.search("the and of", 5) == [] and lex.search("", 5) == []
    assert lex.search("zzyzx", 5) == []
    assert lex.search('" OR * NEAR(', 5) == []  # query syntax is not ours: no error


def test_filters(catalog, make_lexical):
    chunks = _fill(catalog)
    lex = make_lexical(catalog)
    assert lex.search("tunnel", 5, Filters(sources=("Courier",))) == []
    assert lex.search("dockers", 5, Filters(sources=("Courier",)))[0][0] == chunks[1][0].id
    assert lex.search("lighthouse", 5, Filters(until_day=20261031)) == []
    got = lex.search("tunnel lighthouse", 5, Filters(since_day=20260901, until_day=20260930))
    assert {c for c, _ in got} == {chunks[2][0].id, chunks[2][1].id}


def test_it_follows_writes_and_removals(open_catalog, make_lexical):
    catalog = open_catalog()
    chunks = _fill(catalog)
    lex = make_lexical(catalog)
    assert lex.search("gannets", 5)
    writer = open_catalog()  # another handle: another process's ingest
    art, new = article(7, ["Zephyrton opened a new harbour bridge."], source="Courier")
    store_article(writer, art, new)
    lex.refresh()
    assert [c for c, _ in lex.search("Zephyrton", 5)] == [new[0].id]
    art, new = article(7, ["Marrowby closed the ferry terminal."], source="Courier")
    store_article(writer, art, new)  # rewritten: the old words go
    lex.refresh()
    assert lex.search("Zephyrton", 5) == [] and lex.search("Marrowby", 5)
    writer.remove_articles([chunks[0][0].article_id])
    lex.refresh()
    assert lex.search("gannets", 5) == []
