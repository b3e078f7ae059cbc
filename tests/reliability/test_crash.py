"""Crash safety beyond tests/ingest/test_run.py: a crash at each step of an update and a prune,
kill -9 of the real CLI during an update and during --prune, and the lexical index kept exact."""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from harness.faults import (
    Harness,
    Target,
    corpus_v1,
    corpus_v2,
    differences,
    fingerprint,
    write_corpus,
)
from harness.synth import synth_article
from ingest.run import ingest
from rag.catalog import SQLiteCatalog
from rag.index import Index
from rag.lexical import CatalogFTS
from rag.store import ChromaStore


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


def _build(data_dir: Path, corpus: Path, embedder, prune: bool = False, **kw) -> None:
    index = Index.open(Target(data_dir).settings().replace(**kw), embedder)
    try:
        ingest(index, [corpus], prune=prune)
    finally:
        index.close()


@pytest.fixture(scope="module")
def update_case(tmp_path_factory, embedder):
    """v1 files and their index; the clean build of the v2 files (an update, and c.jsonl gone)."""
    work = tmp_path_factory.mktemp("crash")
    corpus = work / "corpus"
    write_corpus(corpus, corpus_v1())
    mtimes = {p.name: p.stat().st_mtime_ns for p in corpus.iterdir()}
    _build(work / "base", corpus, embedder)
    v2 = {**corpus_v2("update"), "c.jsonl": None}
    write_corpus(corpus, v2)
    _build(work / "clean", corpus, embedder)
    clean = fingerprint(Target(work / "clean"), embedder)
    assert clean["check"]["consistent"], clean["check"]
    return {"work": work, "corpus": corpus, "mtimes": mtimes, "v2": v2, "clean": clean}


def _start_from_base(case, target: Path) -> None:
    shutil.copytree(case["work"] / "base", target)
    write_corpus(case["corpus"], corpus_v1(), case["mtimes"])  # as the base index saw them
    v1 = corpus_v1()
    write_corpus(case["corpus"], {n: r for n, r in case["v2"].items() if r != v1.get(n)})


# (class, method, when): the process dies right before or right after that call
STEPS = {
    "after marking articles pending": (SQLiteCatalog, "mark_pending", "after"),
    "after deleting the old vectors": (ChromaStore, "delete_articles", "after"),
    "before writing vectors": (ChromaStore, "upsert", "before"),
    "after writing vectors": (ChromaStore, "upsert", "after"),
    "after committing a batch": (SQLiteCatalog, "commit_articles", "after"),
    "before recording a file": (SQLiteCatalog, "record_file", "before"),
    "after marking articles for removal": (SQLiteCatalog, "mark_removing", "after"),
    "after removing from the catalog": (SQLiteCatalog, "remove_articles", "after"),
}


@pytest.mark.parametrize("step", list(STEPS))
def test_a_crash_at_each_step_of_an_update_and_prune_is_repaired_by_the_next_run(
        step, update_case, tmp_path, embedder, monkeypatch):
    cls, name, when = STEPS[step]
    original = getattr(cls, name)
    calls = {"n": 0}

    def dying(self, *args, **kwargs):
        calls["n"] += 1
        if when == "before" and calls["n"] == 1:
            raise Crash(step)
        result = original(self, *args, **kwargs)
        if when == "after" and calls["n"] == 1:
            raise Crash(step)
        return result

    data_dir = tmp_path / "idx"
    _start_from_base(update_case, data_dir)
    monkeypatch.setattr(cls, name, dying)
    with pytest.raises(Crash):
        _build(data_dir, update_case["corpus"], embedder, prune=True, ingest_batch_chunks=4)
    monkeypatch.setattr(cls, name, original)
    _build(data_dir, update_case["corpus"], embedder, prune=True, ingest_batch_chunks=4)
    got = fingerprint(Target(data_dir), embedder)
    assert differences(got, update_case["clean"]) == []


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["update", "prune"])
def test_kill_9_of_the_cli_during_an_update_or_a_prune_then_rerun_equals_a_clean_build(
        scenario, tmp_path, embedder):
    h = Harness(tmp_path, "embedded", batch_chunks=2, chroma_url=None, embedder=embedder,
                in_process=True)
    sc = h.setup(scenario, timed=False)
    row = h.trial(sc, random.Random(3))
    assert row["equal_to_clean_build"], row["differences"]
    assert row["kills"][0]["killed"]


def test_a_new_title_leaves_no_stale_words_in_the_lexical_index(make_settings, tmp_path,
                                                               embedder):
    feed = tmp_path / "feed.jsonl"
    art = synth_article(1)
    art["title"] = "Zanzibarian quokka parade " + art["title"]
    feed.write_text(json.dumps(art) + "\n")
    index = Index.open(make_settings(), embedder)
    ingest(index, [feed])
    assert CatalogFTS(index.catalog).search("quokka", 5)
    art["title"] = "Council budget " + art["title"].split(" ", 3)[3]
    art["text"] += "\n\nThe story was updated on Friday."
    feed.write_text(json.dumps(art) + "\n")
    report = ingest(index, [feed])
    assert report.updated == 1
    assert CatalogFTS(index.catalog).search("quokka", 5) == []  # the old title's words are gone
    check = index.verify()
    assert check["consistent"] and check["fts_tokens"] == check["fts_tokens_expected"], check
    index.close()


@pytest.mark.parametrize("prune", [False, True])
def test_an_article_moved_to_another_file_is_kept(make_settings, tmp_path, embedder, prune):
    # b.jsonl is read after a.jsonl: the article moves from b to a
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    arts = [synth_article(i) for i in range(3)]
    a.write_text(json.dumps(synth_article(9)) + "\n")
    b.write_text("".join(json.dumps(x) + "\n" for x in arts))
    index = Index.open(make_settings(), embedder)
    ingest(index, [tmp_path])
    a.write_text("".join(json.dumps(x) + "\n" for x in (synth_article(9), arts[2])))
    if prune:
        b.unlink()
    else:
        b.write_text("".join(json.dumps(x) + "\n" for x in arts[:2]))
    ingest(index, [tmp_path], prune=prune)
    urls = {r[0] for r in index.catalog.article_rows("url")}
    assert arts[2]["url"] in urls
    assert index.verify()["consistent"]
    index.close()


def test_a_second_ingest_at_the_same_time_is_refused(make_settings, tmp_path, embedder):
    """Its recovery would roll back the first one's batch in flight."""
    import fcntl

    from rag.errors import StoreError

    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps(synth_article(1)) + "\n")
    index = Index.open(make_settings(), embedder)
    with (index.settings.data_dir / "ingest.lock").open("a") as other:  # as another process's
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(StoreError, match="Another ingest is writing to"):
            ingest(index, [feed])
    assert ingest(index, [feed]).ingested == 1  # once it is done
    index.close()
