"""The Catalog protocol: what every catalog implementation must do (run once per implementation,
see conftest.CATALOGS). Written against the protocol only: no SQL, no file."""
from __future__ import annotations

import pytest

from rag.errors import StoreError
from rag.filters import Filters
from rag.protocols import Catalog
from tests.contracts.conftest import article, store_article

HARBOUR = ["The harbour pilots of Port Calder voted to strike on Monday.",
           "Ferries to the Skerrin islands were cancelled for two days."]
TUNNEL = ["The Orrin Valley rail tunnel will cost 2.3 billion euros.",
          "The assembly approved the plan by 41 votes to 12."]


def test_it_is_a_catalog(catalog):
    assert isinstance(catalog, Catalog)
    assert not catalog.readonly


def test_an_article_is_written_in_two_steps(catalog):
    art, chunks = article(1, HARBOUR)
    before = catalog.version()
    catalog.mark_pending([(art, "feed.jsonl")])
    assert catalog.pending_articles() == [art.id]
    assert catalog.article(art.id).state == "pending"
    assert catalog.state_counts() == {"done": 0, "pending": 1}
    catalog.commit_articles({art.id: chunks}, [], {})
    assert catalog.version() != before
    assert catalog.pending_articles() == []
    stored = catalog.article(art.id)
    assert (stored.state, stored.n_chunks, stored.title, stored.file) == (
        "done", 2, art.title, "feed.jsonl")
    assert catalog.article_text(art.id) == art.text
    got = catalog.chunks_by_ids([c.id for c in chunks] + ["no-such-chunk"])
    assert list(got) == [c.id for c in chunks] and got[chunks[0].id] == chunks[0]
    assert catalog.counts() == {"articles": 1, "chunks": 2, "duplicates": 0, "files": 0,
                                "pending": 0}
    assert catalog.consistency() == {"orphan_chunks": 0, "articles_with_wrong_chunk_count": 0}
    assert catalog.id_with_hash(art.content_hash) == art.id


def test_a_rewrite_replaces_the_chunks_and_never_reuses_a_rowid(catalog):
    art, chunks = article(1, HARBOUR)
    store_article(catalog, art, chunks)
    first = catalog.rowids_by_chunk_id([c.id for c in chunks])
    art2, chunks2 = article(1, HARBOUR[:1])
    store_article(catalog, art2, chunks2)
    assert catalog.all_chunk_ids() == {chunks2[0].id}
    again = catalog.rowids_by_chunk_id([chunks2[0].id])
    assert min(again.values()) > max(first.values())
    assert catalog.chunk_ids_by_rowid(list(again.values())) == {v: k for k, v in again.items()}
    # a reader following by rowid sees the rewrite as a new row
    rows = [r for part in catalog.chunk_rows_after(max(first.values())) for r in part]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (again[chunks2[0].id], HARBOUR[0], art2.title, "Gazette")]
    assert rows[0][4] == 20261120
    assert catalog.chunk_count() == 1 and catalog.chunk_count_by_article() == {art.id: 1}


def test_removal_and_recovery_leave_nothing_behind(catalog):
    a, ca = article(1, HARBOUR)
    b, cb = article(2, TUNNEL)
    store_article(catalog, a, ca, bands=[(0, 11), (1, 12)], sig=b"\x01" * 8)
    store_article(catalog, b, cb)
    catalog.mark_removing([a.id])
    assert catalog.pending_articles() == [a.id]  # a crash now is rolled back later
    catalog.remove_articles([a.id])
    assert catalog.article(a.id) is None and catalog.signature(a.id) is None
    assert catalog.lsh_candidates([(0, 11)]) == set()
    assert catalog.all_chunk_ids() == {c.id for c in cb}
    assert catalog.article_ids_with_chunks() == [b.id]
    assert catalog.consistency() == {"orphan_chunks": 0, "articles_with_wrong_chunk_count": 0}
    # a batch a crash left pending: its rows are found, and removed with it
    c, _ = article(3, ["A half-written story about the reservoir."])
    catalog.mark_pending([(c, "feed.jsonl")])
    assert catalog.pending_articles() == [c.id]
    catalog.remove_articles(catalog.pending_articles())
    assert catalog.state_counts() == {"done": 1, "pending": 0}


def test_files_and_duplicates(catalog):
    a, ca = article(1, HARBOUR)
    store_article(catalog, a, ca, file="/in/a.jsonl")
    catalog.record_file("/in/a.jsonl", 120, 7, [a.id, "copy1"], [{"origin": "x", "reason": "r"}])
    assert catalog.file_state("/in/a.jsonl") == (120, 7)
    assert catalog.file_seen_ids("/in/a.jsonl") == [a.id, "copy1"]
    assert catalog.file_article_ids("/in/a.jsonl") == [a.id]
    copy, _ = article(9, HARBOUR, title="Copy headline")
    catalog.record_duplicate(copy, a.id, "near", 0.93, "/in/b.jsonl")
    assert catalog.duplicate_of(copy.id) == a.id
    assert catalog.file_duplicate_ids("/in/b.jsonl") == [copy.id]
    assert catalog.files_of_duplicates_of([a.id]) == ["/in/b.jsonl"]
    assert catalog.files_of_articles() == {"/in/a.jsonl", "/in/b.jsonl"}
    catalog.set_article_file(a.id, "/in/c.jsonl")
    assert catalog.article(a.id).file == "/in/c.jsonl"
    assert catalog.files() == ["/in/a.jsonl"]
    catalog.forget_file("/in/b.jsonl")  # its skipped copies go with it
    assert catalog.duplicate_of(copy.id) is None
    catalog.record_duplicate(copy, a.id, "exact", 1.0, None)
    catalog.remove_duplicates([copy.id])
    assert catalog.counts()["duplicates"] == 0
    catalog.forget_file("/in/a.jsonl")
    assert catalog.file_state("/in/a.jsonl") is None and catalog.file_seen_ids("/in/a.jsonl") == []


def test_near_duplicate_buckets_and_signatures(catalog):
    a, ca = article(1, HARBOUR)
    b, cb = article(2, TUNNEL)
    store_article(catalog, a, ca, bands=[(0, 5), (1, 6)], sig=b"\x00\x01" * 4)
    store_article(catalog, b, cb, bands=[(0, 5), (1, 7)], sig=b"\x02" * 8)
    assert catalog.lsh_candidates([(0, 5)]) == {a.id, b.id}
    assert catalog.lsh_candidates([(1, 7), (9, 9)]) == {b.id}
    assert catalog.signature(a.id) == b"\x00\x01" * 4 and catalog.signature("none") is None


def test_reading_for_evaluation_and_checks(catalog):
    a, ca = article(1, HARBOUR, external_id="doc-1", title="Pilots strike at Port Calder")
    b, cb = article(2, TUNNEL, source="Courier", published="2026-10-01")
    store_article(catalog, a, ca)
    store_article(catalog, b, cb)
    copy, _ = article(3, HARBOUR, external_id="doc-3", title="Pilots Strike At Port Calder!")
    catalog.record_duplicate(copy, a.id, "exact", 1.0, "feed.jsonl")
    assert catalog.articles_standing_for(["doc-1"]) == {a.id}
    assert catalog.articles_standing_for(["doc-3", "nothing"]) == {a.id}
    assert catalog.articles_standing_for([b.id]) == {b.id}
    assert sorted(catalog.titles_containing("pilots strike")) == [
        (a.id, "Pilots Strike At Port Calder!"), (a.id, "Pilots strike at Port Calder")]
    # the fragment is text, not a pattern: % and _ match only themselves
    assert catalog.titles_containing("%") == [] and catalog.titles_containing("Pilots_") == []
    assert catalog.chunk_texts([b.id, a.id]) == HARBOUR + TUNNEL  # by chunk id
    assert catalog.titles() == [a.title, b.title]
    assert catalog.article_rows("id", "source") == [(a.id, "Gazette"), (b.id, "Courier")]
    with pytest.raises(ValueError, match="Valid fields"):
        catalog.article_rows("id; DROP TABLE articles")
    assert [c.id for part in catalog.chunks_in_order(batch=1) for c in part] == [
        c.id for c in ca + cb]
    assert catalog.existing_chunk_ids([ca[0].id, "gone"]) == {ca[0].id}
    assert catalog.sources() == [("Courier", 1), ("Gazette", 1)]
    assert catalog.date_range() == ("2026-10-01", "2026-11-20T08:00:00Z")
    contents = catalog.contents()
    assert set(contents["articles"]) == {a.id, b.id} and contents["same_hash_twice"] == 0
    assert contents["duplicates"] == {copy.id: a.id}
    assert catalog.lexical_check()["fts_rows_match"]


def test_full_text_search_and_its_filters(catalog):
    a, ca = article(1, HARBOUR)
    b, cb = article(2, TUNNEL, source="Courier", published="2026-10-01")
    store_article(catalog, a, ca)
    store_article(catalog, b, cb)
    hits = catalog.fts_search("rail tunnel cost", 5)
    assert hits[0][0] == cb[0].id and all(s > 0 for _, s in hits)
    assert catalog.fts_search("rail tunnel", 5, Filters(sources=("Gazette",))) == []
    assert catalog.fts_search("ferries", 5, Filters(since_day=20261101))[0][0] == ca[1].id
    assert catalog.fts_search("ferries", 5, Filters(until_day=20261031)) == []
    assert catalog.fts_search("the and of", 5) == []  # no content words: no query
    assert catalog.fts_search('"; DROP', 5) == []


def test_meta_and_identity(open_catalog):
    catalog = open_catalog()
    assert catalog.get_meta("embedder") is None
    catalog.set_meta("embedder", "minilm/384")
    uid = catalog.uid()
    other = open_catalog()
    assert other.get_meta("embedder") == "minilm/384" and other.uid() == uid


def test_another_handle_sees_commits_and_a_read_only_one_refuses_writes(open_catalog):
    writer = open_catalog()
    a, ca = article(1, HARBOUR)
    store_article(writer, a, ca)
    reader = open_catalog(readonly=True)
    assert reader.readonly and reader.why_readonly
    seen = reader.version()
    b, cb = article(2, TUNNEL)
    store_article(writer, b, cb)
    assert reader.version() != seen
    assert reader.article(b.id).state == "done"
    with pytest.raises(StoreError, match="Cannot"):
        reader.mark_pending([(article(3, ["x y z"])[0], None)])
    with pytest.raises(StoreError):
        reader.set_meta("k", "v")
    assert "Cannot ingest" in str(reader.cannot_write("ingest"))


def test_a_failed_commit_writes_nothing(catalog):
    a, ca = article(1, HARBOUR)
    store_article(catalog, a, ca)
    b, cb = article(2, TUNNEL)
    clash = [cb[0], ca[0]]  # a chunk id another article holds: the commit must fail whole
    catalog.mark_pending([(b, None)])
    with pytest.raises(StoreError):
        catalog.commit_articles({b.id: clash}, [(0, 1, b.id)], {b.id: b"\x03" * 8})
    assert catalog.article(b.id).state == "pending"  # rolled back on the next run
    assert catalog.all_chunk_ids() == {c.id for c in ca}
    assert catalog.lsh_candidates([(0, 1)]) == set() and catalog.signature(b.id) is None


def test_feed_state(catalog):
    src = "https://news.example/feed.xml"
    catalog.write_feed_state(
        [{"url": src, "kind": "rss", "title": "News", "polls": 1, "next_poll": 50.0}],
        [{"url": "https://news.example/a", "link": "https://news.example/a", "source_url": src,
          "guid": "g-a", "state": "new", "first_seen": 1.0},
         {"url": "https://news.example/b", "link": "https://news.example/b", "source_url": src,
          "guid": "g-b", "state": "retry", "next_try": 99.0, "first_seen": 2.0}])
    # an upsert sets the fields it names and keeps the others
    catalog.write_feed_state([{"url": src, "last_status": 200}])
    assert catalog.feed_source(src)["kind"] == "rss" and catalog.feed_source(src)["last_status"] == 200
    assert [i["url"] for i in catalog.feed_items_due(src, now=10.0)] == ["https://news.example/a"]
    assert len(catalog.feed_items_due(src, now=100.0)) == 2
    catalog.write_feed_state(items=[{"url": "https://news.example/a", "state": "stored",
                                     "canonical": "https://news.example/a-canon"}])
    assert catalog.feed_item("https://news.example/a")["state"] == "stored"
    assert catalog.feed_item_known("g-b", None) == "https://news.example/b"
    assert catalog.feed_item_known(None, "https://news.example/a-canon") == "https://news.example/a"
    assert catalog.feed_item_known("unknown", None) is None
    (report,) = catalog.feed_report()
    assert report["url"] == src and report["polls"] == 1 and report["http_status"] == 200
    assert report["items"]["seen"] == 2 and report["items"]["stored"] == 1
    assert catalog.feed_item_rows("guid", "state") == [("g-a", "stored"), ("g-b", "retry")]
    with pytest.raises(ValueError, match="Valid fields"):
        catalog.write_feed_state([{"url": src, "colour": "red"}])
    assert catalog.feed_source(src)["title"] == "News"  # the refused write changed nothing


def test_reading_and_adding_for_export_and_import(catalog):
    """Finished articles in stored order with their signatures, chunks by article, the copied
    tables by key in pages, and rows added only where the key is missing."""
    a, ca = article(1, HARBOUR)
    b, cb = article(2, TUNNEL)
    p, _ = article(3, HARBOUR[:1])
    store_article(catalog, b, cb, sig=b"\x02" * 8)
    store_article(catalog, a, ca)
    catalog.mark_pending([(p, None)])  # half-written: not exported
    first = catalog.article_records(0, 1)
    assert [r["id"] for _, r in first] == [b.id]
    assert first[0][1]["signature"] == b"\x02" * 8 and first[0][1]["text"] == b.text
    assert first[0][1]["n_chunks"] == 2 and "state" not in first[0][1]
    rest = catalog.article_records(first[0][0], 10)
    assert [(r["id"], r["signature"]) for _, r in rest] == [(a.id, None)]
    assert catalog.article_records(rest[-1][0], 10) == []
    assert catalog.chunks_of([a.id, b.id, "none"]) == {a.id: ca, b.id: cb, "none": []}
    catalog.record_duplicate(article(8, TUNNEL)[0], b.id, "near", 0.9, "/in/x.jsonl")
    catalog.record_duplicate(article(9, TUNNEL)[0], b.id, "exact", 1.0, None)
    page = catalog.rows_after("duplicates", "", 1)
    assert [r["id"] for r in page] == ["art008"] and page[0]["similarity"] == 0.9
    assert [r["id"] for r in catalog.rows_after("duplicates", "art008", 5)] == ["art009"]
    row = {"path": "/in/a.jsonl", "size": 10, "mtime_ns": 5, "article_ids": "[]",
           "skipped": "[]", "ingested_at": 1.0}
    assert catalog.insert_missing("files", [row, {**row, "path": "/in/b.jsonl"}]) == 2
    assert catalog.insert_missing("files", [{**row, "size": 99}]) == 0  # its own row wins
    assert catalog.file_state("/in/a.jsonl") == (10, 5)
    assert [r["path"] for r in catalog.rows_after("files", "", 10)] == ["/in/a.jsonl",
                                                                       "/in/b.jsonl"]
    assert catalog.insert_missing("feed_items", [{"url": "u", "state": "new"}]) == 1
    assert catalog.rows_after("feed_items", "", 10)[0]["state"] == "new"
    with pytest.raises(ValueError, match="Valid tables"):
        catalog.rows_after("articles", "", 1)
    with pytest.raises(ValueError, match="Valid fields"):
        catalog.insert_missing("files", [{"path": "/x", "colour": "red"}])
