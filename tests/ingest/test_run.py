"""Ingest runs end to end into a real Chroma and catalog: idempotent, incremental, crash-safe."""
from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from harness.synth import synth_article, write_jsonl
from ingest.run import ingest
from rag.catalog import open_catalog
from rag.errors import IndexMismatchError, StoreError
from rag.index import Index
from tests.conftest import DEMO, FIXTURES, REPO, SHARED

SEED = SHARED / "seeds" / "000_f126b7c4cd519df5.txt"
SEED_TITLE = ("North Korea-Russia arms deal shows Kremlin running out of good options. "
              "Why India must worry")


def _open(settings, embedder):
    return Index.open(settings, embedder)


def test_seed_page_becomes_one_article_whose_chunks_hold_every_paragraph(make_settings, embedder):
    index = _open(make_settings(), embedder)
    report = ingest(index, [SEED])
    assert report.ingested == 1 and report.chunks > 1
    (aid,) = [r[0] for r in index.catalog.article_rows("id")]
    assert index.catalog.article(aid).title == SEED_TITLE
    chunks = sorted(index.catalog.chunks_by_ids(list(index.catalog.all_chunk_ids())).values(),
                    key=lambda c: c.position)
    text = index.catalog.article_text(aid)
    for c in chunks:  # offsets point into the exact stored article text
        assert text[c.start:c.end] == c.text

    def norm(t: str) -> str:  # the page has non-breaking spaces; compare words
        return " ".join(t.split())

    joined = norm(" ".join(c.text for c in chunks))
    text = norm(text)
    raw = norm(SEED.read_text("utf-8")).replace(" Also read", "\n\nAlso read")
    raw = SEED.read_text("utf-8").replace("\xa0", " ")
    body = raw[raw.index("China has conveyed"):raw.index("Subscribe to our channels")]
    paragraphs = [p.strip() for p in body.split("\n\n") if p.strip()]
    for p in paragraphs:
        if p.startswith("Also read"):
            assert p not in joined
            continue
        assert p in text, p[:60]
        assert all(s in joined for s in p.split(". ")), p[:60]
    for chrome in ("scorecardresearch", "Support Our Journalism", "Subscribe to our channels",
                   "Also read", "Follow Us", "Text Size", "LEAVE A REPLY", "Please enter your",
                   "Most Popular", "HomeOpinion", "India needs fair"):
        assert chrome not in joined, chrome
    index.close()


def test_chunks_never_exceed_the_embedder_input(make_settings, embedder):
    from ingest.chunk import embedding_text

    index = _open(make_settings(), embedder)
    ingest(index, [DEMO])
    chunks = index.catalog.chunks_by_ids(list(index.catalog.all_chunk_ids())).values()
    sizes = embedder.count_tokens([embedding_text(c) for c in chunks])
    assert max(sizes) <= embedder.max_tokens
    index.close()


def test_demo_ingest_counts_the_syndicated_copy_once_and_reingest_adds_nothing(
        make_settings, embedder):
    settings = make_settings()
    index = _open(settings, embedder)
    first = ingest(index, [DEMO])
    assert first.ingested == 36 and first.duplicates["near"] == 1
    stats = index.stats()
    assert stats["articles"] == 36
    # every article has its outlet, and the outlets are those the README counts
    assert sum(stats["sources"].values()) == stats["articles"], stats["sources"]
    (figure,) = re.findall(r"(\d+) outlets", (REPO / "README.md").read_text("utf-8"))
    assert len(stats["sources"]) == int(figure), stats["sources"]
    second = ingest(index, [DEMO])
    assert second.chunks == 0 and second.ingested == 0
    assert second.files_unchanged == second.files
    assert index.stats()["chunks"] == stats["chunks"]
    assert index.verify()["consistent"]
    # touching the files (new mtime, same content) re-reads them but still adds nothing
    for p in DEMO.rglob("*.jsonl"):
        os.utime(p)
    third = ingest(index, [DEMO])
    assert third.chunks == 0 and third.unchanged >= 5
    index.close()


def test_changed_article_replaces_its_chunks_and_prune_removes_gone_files(tmp_path, make_settings,
                                                                         embedder):
    feed = tmp_path / "feed.jsonl"
    write_jsonl(feed, 3)
    other = write_jsonl(tmp_path / "other.jsonl", 2, seed=1)
    index = _open(make_settings(), embedder)
    ingest(index, [feed, other])
    before = index.stats()["chunks"]
    # the same URL with a longer text: one article updated, its chunk ids rewritten
    rows = [json.loads(x) for x in feed.read_text().splitlines()]
    rows[0]["text"] += "\n\nA correction was added to this story on Friday after readers wrote in."
    feed.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    report = ingest(index, [feed, other])
    assert report.updated == 1 and report.ingested == 0
    assert index.verify()["consistent"]
    ids = [aid for aid, url in index.catalog.article_rows("id", "url") if url == rows[0]["url"]]
    text = index.catalog.article_text(ids[0])
    assert "A correction was added" in text
    other.unlink()
    report = ingest(index, [feed], prune=True)
    assert report.removed == 2
    assert index.stats()["articles"] == 3 and index.stats()["chunks"] >= before - 20
    assert index.verify()["consistent"]
    index.close()


def test_bad_input_is_skipped_with_reasons_and_nothing_stored_is_lost(make_settings, embedder):
    index = _open(make_settings(), embedder)
    ingest(index, [DEMO / "feeds"])
    kept = index.stats()["chunks"]
    report = ingest(index, [FIXTURES / "bad"])
    assert {"empty", "binary", "malformed json", "no article", "truncated gzip"} <= set(
        report.skipped)
    assert report.ingested >= 3  # the good records among the bad ones
    assert index.stats()["chunks"] > kept
    assert index.verify()["consistent"]
    index.close()


def test_an_index_refuses_another_embedder(make_settings, embedder):
    settings = make_settings()
    index = _open(settings, embedder)
    index.close()

    class Other:
        name, dimension, max_tokens = "other-model", 8, 128

    with pytest.raises(IndexMismatchError, match="built with embedder"):
        Index.open(settings, Other())


def _ingest_cmd(settings, paths):
    return [sys.executable, "-m", "ui.cli", "ingest", "--no-progress", "--data-dir",
            str(settings.data_dir), *map(str, paths)]


def _done_articles(settings) -> int:
    try:  # from outside the ingest process, read-only
        catalog = open_catalog(settings, readonly=True)
    except StoreError:
        return 0
    try:
        return catalog.state_counts()["done"]
    except (sqlite3.Error, StoreError):
        return 0
    finally:
        catalog.close()


def _snapshot(index: Index) -> tuple[set, set]:
    arts = {r[0] for r in index.catalog.article_rows("id")}
    return arts, index.catalog.all_chunk_ids()


@pytest.mark.slow
def test_kill_9_during_ingest_then_rerun_equals_a_clean_build(tmp_path, make_settings, embedder):
    corpus = write_jsonl(tmp_path / "corpus" / "feed.jsonl", 40)
    env = dict(os.environ, NEWSRAG_INGEST_BATCH_CHUNKS="16", PYTHONPATH=str(REPO))
    settings = make_settings()
    for target in (3, 15):  # kill after a few batches, then again further in
        proc = subprocess.Popen(_ingest_cmd(settings, [corpus]), env=env, cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 240
        while _done_articles(settings) < target and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = subprocess.run(_ingest_cmd(settings, [corpus]), env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    index = _open(settings, embedder)
    check = index.verify()
    assert check["consistent"], check
    got = _snapshot(index)
    index.close()
    clean_settings = settings.replace(data_dir=tmp_path / "clean")
    clean = _open(clean_settings, embedder)
    ingest(clean, [corpus])
    assert got == _snapshot(clean)
    assert len(got[0]) == 40
    clean.close()


def test_synthetic_articles_are_distinct():
    a, b = synth_article(1), synth_article(2)
    assert a["text"] != b["text"] and a["url"] != b["url"]
