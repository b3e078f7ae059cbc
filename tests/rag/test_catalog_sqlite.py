"""The SQLite catalog's own behaviour, below its protocol: what only a file on disk can have (an
older schema, FTS5 rows out of step). The only tests that reach into the SQLite file itself, to
damage it as a bug or an old version would; the contract tests (tests/contracts/) hold every
catalog to the protocol."""
from __future__ import annotations

import json
import sqlite3

from harness.synth import synth_article
from ingest.run import ingest
from rag.catalog import SQLiteCatalog
from rag.index import Index
from rag.settings import Settings


def test_an_older_catalog_gets_the_feed_tables(tmp_path, embedder):
    settings = Settings(data_dir=tmp_path / "old")
    Index.open(settings, embedder).close()
    db = sqlite3.connect(settings.catalog_path)
    db.executescript("DROP TABLE feed_sources; DROP TABLE feed_items;")
    db.close()
    ro = SQLiteCatalog(settings.catalog_path, readonly=True)
    assert ro.feed_report() == []  # read-only: no tables, no feeds, no error
    ro.close()
    rw = SQLiteCatalog(settings.catalog_path)
    assert rw.feed_report() == [] and rw.feed_source("http://x.example/") is None
    rw.close()


def test_verify_finds_lexical_rows_out_of_step(make_settings, tmp_path, embedder):
    feed = tmp_path / "feed.jsonl"
    feed.write_text("".join(json.dumps(synth_article(i)) + "\n" for i in range(2)))
    index = Index.open(make_settings(), embedder)
    ingest(index, [feed])
    assert index.verify()["consistent"]
    rowid, text = index.catalog.db.execute("SELECT rowid, text FROM chunks LIMIT 1").fetchone()
    with index.catalog.transaction() as db:  # a row deleted with other words than it holds
        db.execute("INSERT INTO chunks_fts (chunks_fts, rowid, text, title) "
                   "VALUES ('delete', ?, ?, 'another title')", (rowid, text))
        db.execute("INSERT INTO chunks_fts (rowid, text, title) VALUES (?, ?, '')", (rowid, text))
    check = index.verify()
    assert not check["consistent"] and check["fts_tokens"] != check["fts_tokens_expected"]
    index.close()
