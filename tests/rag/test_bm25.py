"""The in-memory BM25: the same ranking as BM25 worked by hand, and in step with the catalog."""
from __future__ import annotations

import math
from collections import Counter

import pytest

from harness.synth import synth_article
from rag.bm25 import K1, B, MemoryBM25, terms_of
from rag.catalog import SQLiteCatalog
from rag.dates import published_day
from rag.filters import Filters
from rag.types import Article, Chunk


def add(catalog: SQLiteCatalog, i: int, seed: int = 0, text: str | None = None, **over) -> list[Chunk]:
    """Article i of the synthetic set, cut into its paragraphs, committed like an ingest does."""
    a = synth_article(i, seed)
    a.update(over)
    body = text if text is not None else a["text"]
    aid = f"a{i}"
    art = Article(aid, a["title"], body, a["url"], a["source"], (), a["published_at"],
                  f"h{i}-{hash(body)}", "test")
    chunks, start = [], 0
    for pos, para in enumerate(body.split("\n\n")):
        start = body.index(para, start)
        chunks.append(Chunk(f"{aid}-{pos:04d}", aid, pos, para, start, start + len(para),
                            art.title, art.source, art.published, art.url))
    catalog.mark_pending([(art, "f")])
    catalog.commit_articles({aid: chunks}, [], {})
    return chunks


def brute_bm25(catalog: SQLiteCatalog, query: str, filters: Filters | None = None) -> list[tuple[str, float]]:
    """BM25 straight from its definition, over every chunk the catalog holds."""
    every = [c for part in catalog.chunks_in_order() for c in part]
    rows = [(c.id, c.text, c.title) for c in every if passes(c, filters or Filters())]
    rows.sort(key=lambda r: int(r[0][1:].split("-")[0]) * 10_000 + int(r[0].split("-")[1]))
    bags = [terms_of(c.text) + terms_of(c.title or "") for c in every]
    n, avgdl = len(bags), sum(sum(b.values()) for b in bags) / len(bags)
    df = Counter(t for b in bags for t in b)
    out = []
    for cid, text, title in rows:
        bag = terms_of(text) + terms_of(title or "")
        dl, score = sum(bag.values()), 0.0
        for t in terms_of(query):
            if bag[t]:
                idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                score += idf * bag[t] * (K1 + 1) / (bag[t] + K1 * (1 - B + B * dl / avgdl))
        if score > 0:
            out.append((cid, score))
    return sorted(out, key=lambda x: -round(x[1], 5))  # ties: the older chunk first


def passes(chunk: Chunk, f: Filters) -> bool:
    day = published_day(chunk.published)
    return ((not f.sources or chunk.source in f.sources)
            and (f.since_day is None or (day is not None and day >= f.since_day))
            and (f.until_day is None or (day is not None and day <= f.until_day)))


@pytest.fixture
def catalog(tmp_path):
    cat = SQLiteCatalog(tmp_path / "catalog.sqlite3")
    for i in range(40):
        add(cat, i)
    yield cat
    cat.close()


QUERIES = ["harbour strike council budget", "Calder7 reservoir drought", "wildfire smoke",
           "nothing matches zzzqqq", "Brantwick12 election mayor ruling"]


@pytest.mark.parametrize("query", QUERIES)
def test_the_ranking_is_bm25(catalog, tmp_path, query):
    bm25 = MemoryBM25(catalog, tmp_path / "bm25")
    got = bm25.search(query, 10)
    want = brute_bm25(catalog, query)[:10]
    assert [c for c, _ in got] == [c for c, _ in want]
    assert [round(s, 4) for _, s in got] == [round(s, 4) for _, s in want]


def test_filters_match_the_sql_ones(catalog, tmp_path):
    bm25 = MemoryBM25(catalog, tmp_path / "bm25")
    for f in [Filters(sources=("Test Gazette",)), Filters(since_day=20261010, until_day=20261015),
              Filters(sources=("Fixture Times", "Synthetic Wire"), since_day=20261020),
              Filters(sources=("No Such Outlet",))]:
        want = brute_bm25(catalog, "harbour strike budget tunnel", f)
        got = bm25.search("harbour strike budget tunnel", 200, f)
        assert [c for c, _ in got] == [c for c, _ in want]
        passing = sum(passes(c, f) for part in catalog.chunks_in_order() for c in part)
        assert bm25.share(f) == pytest.approx(passing / catalog.counts()["chunks"])


def test_it_follows_writes_from_another_connection(catalog, tmp_path):
    bm25 = MemoryBM25(catalog, tmp_path / "bm25")
    other = SQLiteCatalog(catalog.path)  # another process's ingest, say
    assert bm25.search("Zephyrton", 5) == []
    new = add(other, 100, text="Zephyrton opened its new harbour bridge.\n\nThe mayor spoke.")
    assert [c for c, _ in bm25.search("Zephyrton", 5)] == [new[0].id]
    # rewritten: the old words go, the new ones come, the chunk ids stay the same
    add(other, 100, text="Quillmoor closed the ferry terminal.\n\nThe mayor spoke.")
    assert [c for c, _ in bm25.search("Quillmoor", 5)] == [new[0].id]
    assert bm25.search("Zephyrton", 5) == []
    other.remove_articles(["a100"])
    assert bm25.search("Quillmoor", 5) == []
    assert bm25.alive_count == catalog.counts()["chunks"]
    other.close()


def test_rowids_are_never_reused(catalog):
    before = max(catalog.chunk_rowids())
    catalog.remove_articles(["a39"])  # the newest chunks
    new = add(catalog, 39)
    rows = catalog.rowids_by_chunk_id([c.id for c in new]).values()
    assert min(rows) > before


def test_it_is_saved_and_loaded_not_rebuilt(catalog, tmp_path):
    first = MemoryBM25(catalog, tmp_path / "bm25")
    assert "build" in first.timings
    add(catalog, 41)  # after the save: read from the catalog on load
    second = MemoryBM25(catalog, tmp_path / "bm25")
    assert "load" in second.timings and "build" not in second.timings
    assert second.alive_count == catalog.counts()["chunks"]
    assert [c for c, _ in second.search("Morrow41 strike budget", 20)] == [
        c for c, _ in brute_bm25(catalog, "Morrow41 strike budget")[:20]]
    add(catalog, 42)
    second.save()  # the tail too: a third process reads no chunk again
    again = MemoryBM25(catalog, tmp_path / "bm25")
    assert again.docs.n == catalog.counts()["chunks"] and len(again.tail) == len(second.tail) > 0
    assert [c for c, _ in again.search("Ulric42 harbour", 10)] == [
        c for c, _ in brute_bm25(catalog, "Ulric42 harbour")[:10]]
    # a cache made from another catalog is not used
    other = SQLiteCatalog(tmp_path / "other" / "catalog.sqlite3")
    add(other, 0)
    third = MemoryBM25(other, tmp_path / "bm25")
    assert "build" in third.timings and third.alive_count == other.counts()["chunks"]
    other.close()


def test_a_broken_cache_is_rebuilt(catalog, tmp_path):
    MemoryBM25(catalog, tmp_path / "bm25")
    for f in (tmp_path / "bm25").glob("main-*.npz"):
        f.write_bytes(b"not a zip")
    again = MemoryBM25(catalog, tmp_path / "bm25")
    assert "build" in again.timings
    assert [c for c, _ in again.search("wildfire smoke", 5)] == [
        c for c, _ in brute_bm25(catalog, "wildfire smoke")[:5]]


def test_a_big_tail_is_merged(catalog, tmp_path):
    bm25 = MemoryBM25(catalog, tmp_path / "bm25", merge_postings=50)
    for i in range(50, 75):
        add(catalog, i)
    bm25.search("anything", 1)
    assert len(bm25.tail) == 0 and bm25.docs.n == catalog.counts()["chunks"]
    assert [c for c, _ in bm25.search("harbour strike", 15)] == [
        c for c, _ in brute_bm25(catalog, "harbour strike")[:15]]


def test_doc_freq_counts_chunks(catalog, tmp_path):
    bm25 = MemoryBM25(catalog, tmp_path / "bm25")
    texts = [c.text + " " + (c.title or "") for part in catalog.chunks_in_order() for c in part]
    want = sum("harbour" in terms_of(t) for t in texts)
    assert bm25.doc_freq(["Harbour", "zzzqqq"]) == {"Harbour": want, "zzzqqq": 0}


def test_a_read_only_catalog_is_searched_without_saving(catalog, tmp_path):
    ro = SQLiteCatalog(catalog.path, readonly=True)
    bm25 = MemoryBM25(ro, tmp_path / "ro-bm25")
    assert bm25.search("wildfire smoke", 3)
    assert not (tmp_path / "ro-bm25").exists()
    ro.close()


def test_several_rankings_from_one_scoring_equal_separate_searches(catalog, tmp_path):
    bm25 = MemoryBM25(catalog, tmp_path / "bm25")
    sets = [Filters(), Filters(since_day=20261005, until_day=20261012),
            Filters(sources=("Test Gazette",))]
    together = bm25.rankings("harbour strike budget tunnel", 7, sets)
    assert together == [bm25.search("harbour strike budget tunnel", 7, f) for f in sets]
    assert all(together) and together[0] != together[1]


def test_a_cache_whose_parts_disagree_is_rebuilt(catalog, tmp_path):
    """A manifest naming a shorter vocabulary than the postings use: rebuilt, not a crash."""
    import json

    MemoryBM25(catalog, tmp_path / "bm25")
    manifest = tmp_path / "bm25" / "bm25.json"
    info = json.loads(manifest.read_text())
    info["vocab"] = info["vocab"][:3]
    manifest.write_text(json.dumps(info))
    again = MemoryBM25(catalog, tmp_path / "bm25")
    assert "build" in again.timings
    assert [c for c, _ in again.search("wildfire smoke", 5)] == [
        c for c, _ in brute_bm25(catalog, "wildfire smoke")[:5]]
