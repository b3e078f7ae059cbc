"""A full disk and a read-only data folder, for real: small tmpfs mounts (root only, else skipped).

A full disk fails the ingest with a StoreError that says so and keeps what was stored; that
process then leaves the vectors alone (Chroma can hang after such a failure) while a new
process serves them, and the next run completes; an index on a read-only mount still answers.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.faults import Target, fill, fingerprint, tmpfs
from harness.synth import write_jsonl
from ingest.run import ingest
from rag.catalog import SQLiteCatalog
from rag.errors import StoreError
from rag.index import Index
from rag.lexical import CatalogFTS
from rag.pipeline import NewsRAG
from tests.conftest import REPO

AS_OF = "2026-11-01"


@pytest.fixture
def mount(tmp_path):
    try:
        with tmpfs(tmp_path / "mnt", "24m") as folder:
            yield folder
    except PermissionError as e:
        pytest.skip(str(e))


def _open(data_dir: Path, embedder) -> Index:
    return Index.open(Target(data_dir).settings().replace(ingest_batch_chunks=8), embedder)


def test_a_full_disk_fails_clearly_and_keeps_what_is_stored(mount, tmp_path, embedder):
    first = write_jsonl(tmp_path / "first" / "a.jsonl", 6, seed=8)
    more = write_jsonl(tmp_path / "more" / "b.jsonl", 30, seed=9)
    data_dir = mount / "idx"
    index = _open(data_dir, embedder)
    ingest(index, [first])
    index.close()
    before = fingerprint(Target(data_dir), embedder)

    fill(mount, 256 * 1024)
    index = _open(data_dir, embedder)
    with pytest.raises(StoreError, match="is full .* free some space and run the ingest again"):
        ingest(index, [first, more])
    # this process leaves that Chroma alone now (its next call can hang); a new one starts clean
    with pytest.raises(StoreError, match="an earlier write in this process failed"):
        ingest(index, [first, more])
    index.close()

    with pytest.raises(StoreError, match="an earlier write in this process failed"):
        _open(data_dir, embedder)
    catalog = SQLiteCatalog(data_dir / "catalog.sqlite3")  # nothing stored is lost
    held = catalog.chunks_by_ids(list(before["chunks"]))
    assert {cid: c.text for cid, c in held.items()} == {
        cid: row[-1] for cid, row in before["chunks"].items()}
    title = next(iter(before["articles"].values()))[2]
    assert CatalogFTS(catalog).search(title, 3)[0][0] in before["chunks"]
    catalog.close()
    # the vectors answer too, in a new process: the slow test below, and harness/faults.py --disk


@pytest.mark.slow
def test_after_a_full_disk_is_freed_the_next_run_equals_a_clean_build(tmp_path):
    """The whole story through the CLI, as harness/faults.py --disk runs it (one free-space level)."""
    out = tmp_path / "reliability.json"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "harness.faults", "--disk", "--free-kib", "256", "--no-read-only",
         "--work", str(tmp_path / "work"), "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1800, check=False)
    if "root needed" in done.stderr:
        pytest.skip("cannot mount a tmpfs here (root needed)")
    assert out.exists(), done.stderr[-3000:]
    (row,) = json.loads(out.read_text())["disk"]["disk_full"]
    assert row["clear_error"] and row["old_chunks_kept"] and row["old_index_served"], row
    assert row["equal_to_clean_build"], row["differences"]
    assert done.returncode == 0


@pytest.mark.parametrize("hot_wal", [False, True], ids=["closed", "hot-wal"])
def test_an_index_on_a_read_only_mount_answers_and_refuses_to_ingest(mount, tmp_path,
                                                                      embedder, hot_wal):
    corpus = write_jsonl(tmp_path / "corpus" / "a.jsonl", 5, seed=7)
    index = _open(tmp_path / "build", embedder)
    ingest(index, [corpus])
    if hot_wal:  # copied while open: the last commits are only in the -wal file
        assert (tmp_path / "build" / "catalog.sqlite3-wal").stat().st_size > 0
        shutil.copytree(tmp_path / "build", mount / "idx")
    index.close()
    if not hot_wal:
        shutil.copytree(tmp_path / "build", mount / "idx")
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)

    index = Index.open(Target(mount / "idx").settings(), embedder)
    assert index.readonly and index.verify()["consistent"]
    assert index.stats()["articles"] == 5
    rag = NewsRAG(index)
    title = index.catalog.titles()[0]
    answer = rag.ask(title, as_of=AS_OF)
    assert answer.passages and answer.passages[0].chunk.title == title
    with pytest.raises(StoreError, match="read-only. Ingest into a writable data folder"):
        ingest(index, [corpus])
    snapshot = index.store.snapshot
    rag.close()
    assert snapshot is not None and not snapshot.exists()  # the private copy is cleaned up
