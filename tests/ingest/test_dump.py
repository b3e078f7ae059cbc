"""Export and import on the embedded deployment: a merge equals an ingest of the same articles,
other embedders, newer formats and damaged dumps are refused before anything is written, and
an import killed with kill -9 and run again equals a clean one. (The round trips on every
deployment: test_dump_deployments.py.)"""
from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.faults import Target, differences, fingerprint
from ingest.dump import DumpError
from ingest.export import export
from ingest.importer import import_dump
from ingest.run import ingest
from rag.catalog import open_catalog
from rag.errors import StoreError
from rag.index import Index
from rag.settings import Settings
from rag.store import ChromaStore
from tests.conftest import DEMO, REPO

COPY = DEMO / "html" / "metrodailypost_2026-10-05_strike-begins-syndicated.html"
SOME = sorted((DEMO / "text").glob("*.txt"))[:2]


@pytest.fixture(scope="module")
def dump(tmp_path_factory, embedder) -> Path:
    """A dump of the demo corpus (built here: the session's demo index holds more)."""
    work = tmp_path_factory.mktemp("dump")
    index = Index.open(Settings(data_dir=work / "source"), embedder)
    try:
        ingest(index, [DEMO])
        export(index, work / "dump")
    finally:
        index.close()
    return work / "dump"


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, dump, embedder) -> Path:
    """An index holding two demo articles and the syndicated copy, ingested (vectors reused)."""
    folder = tmp_path_factory.mktemp("small") / "idx"
    index = Index.open(Settings(data_dir=folder, vector_files=(str(dump / "vectors.npz"),)),
                       embedder)
    try:
        ingest(index, [*SOME, COPY])
    finally:
        index.close()
    return folder


def _open(folder: Path, embedder, **kw) -> Index:
    return Index.open(Settings(data_dir=folder, **kw), embedder)


def test_an_import_merges_as_an_ingest_of_the_same_articles_would(dump, small_index, tmp_path,
                                                                   embedder):
    """The index holds some articles and the syndicated copy: the dump's original of that copy
    becomes its duplicate, nothing is stored twice, the rest is added; the same as ingesting the
    demo corpus into that index."""
    shutil.copytree(small_index, tmp_path / "imported")
    shutil.copytree(small_index, tmp_path / "ingested")
    index = _open(tmp_path / "imported", embedder)
    try:
        held = index.catalog.counts()["articles"]
        report = import_dump(index, dump)
        assert report.ingest.vectors_embedded == 0
        assert report.ingest.unchanged == held - 1  # all but the copy, which the dump lacks
        assert dict(report.ingest.duplicates) == {"near": 1}
        got = index.catalog.contents()
    finally:
        index.close()
    # the reference: an ingest of the demo corpus into the same index (vectors reused)
    index = _open(tmp_path / "ingested", embedder, vector_files=(str(dump / "vectors.npz"),))
    try:
        ingest(index, [DEMO])
        want = index.catalog.contents()
    finally:
        index.close()
    assert got == want
    assert got["same_hash_twice"] == 0
    manifest = json.loads((dump / "manifest.json").read_text())
    assert len(got["articles"]) == manifest["counts"]["articles"]
    copy_id = next(a for a, (_, _, title, _) in got["articles"].items()
                   if "halt as drivers" in title)
    assert list(got["duplicates"].values()) == [copy_id]
    assert fingerprint(Target(tmp_path / "imported"), embedder)["check"]["consistent"]


def _edit_manifest(dump: Path, target: Path, change) -> Path:
    shutil.copytree(dump, target)
    manifest = json.loads((target / "manifest.json").read_text())
    change(manifest)
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


@pytest.mark.parametrize("change, message", [
    (lambda m: m["embedder"].update(name="all-mpnet-base-v2", dimension=768),
     ("holds vectors of 'all-mpnet-base-v2' (768 dims), but this index embeds with "
     "'all-MiniLM-L6-v2' (384 dims). Import it into an index of the same embedder")),
    (lambda m: m.update(format_version=2),
     ("format version 2, schema version 1; this newsrag reads format 1, schema 1: upgrade "
     "newsrag here")),
    (lambda m: m.update(schema_version=7), "schema version 7"),
], ids=["another embedder", "a newer format", "a newer schema"])
def test_a_dump_of_another_embedder_or_a_newer_version_is_refused_before_anything_is_written(
        dump, tmp_path, embedder, change, message):
    bad = _edit_manifest(dump, tmp_path / "bad", change)
    cmd = [sys.executable, "-m", "ui.cli", "import", str(bad), "--data-dir",
           str(tmp_path / "idx"), "--no-progress"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300,
                          check=False, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "newsrag: error: " in done.stderr and message in " ".join(done.stderr.split())
    assert not (tmp_path / "idx").exists()  # refused before the index was opened
    index = _open(tmp_path / "lib", embedder)
    try:
        with pytest.raises(DumpError, match=re.escape(message)):
            import_dump(index, bad)
        assert index.catalog.counts()["articles"] == 0
    finally:
        index.close()


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _lie(dump: Path) -> None:
    """A manifest that says one article more than the file holds (checksums still right)."""
    manifest = json.loads((dump / "manifest.json").read_text())
    manifest["counts"]["articles"] += 1
    (dump / "manifest.json").write_text(json.dumps(manifest))


def _recompress_without_last_line(dump: Path) -> None:
    """A file consistent with its manifest entry but one record short of its count."""
    import hashlib

    path = dump / "articles.jsonl.gz"
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    path.write_bytes(gzip.compress(b"".join(lines[:-1])))
    manifest = json.loads((dump / "manifest.json").read_text())
    manifest["files"]["articles.jsonl.gz"] = {
        "bytes": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    (dump / "manifest.json").write_text(json.dumps(manifest))


DAMAGE = {
    "articles cut short": (lambda d: _truncate(d / "articles.jsonl.gz"), "cut short in a copy"),
    "a byte flipped in the vectors": (lambda d: _flip(d / "vectors.npz"), "checksum"),
    "the vectors missing": (lambda d: (d / "vectors.npz").unlink(), "lacks vectors.npz"),
    "the manifest lying about counts": (_lie, "holds 36 records, its manifest says 37"),
    "a file one record short": (_recompress_without_last_line,
                                "holds 35 records, its manifest says 36"),
    "no manifest": (lambda d: (d / "manifest.json").unlink(), "is not a newsrag dump"),
    "a broken manifest": (lambda d: (d / "manifest.json").write_text("{\"format\": "),
                          "manifest.json is damaged"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_dump_is_refused_and_nothing_stored_is_lost(dump, small_index, tmp_path,
                                                              embedder, damage):
    do, message = DAMAGE[damage]
    bad = tmp_path / "bad"
    shutil.copytree(dump, bad)
    do(bad)
    shutil.copytree(small_index, tmp_path / "idx")
    index = _open(tmp_path / "idx", embedder)
    try:
        before = index.catalog.contents()
        with pytest.raises(DumpError, match=message):
            import_dump(index, bad)
        assert index.catalog.contents() == before
        assert index.verify()["consistent"]
    finally:
        index.close()
    other = _open(tmp_path / "other", embedder)
    try:
        with pytest.raises(DumpError, match="No such dump"):
            import_dump(other, tmp_path / "missing")
    finally:
        other.close()


def _done(folder: Path) -> int:
    try:  # from outside the import, read-only
        catalog = open_catalog(Settings(data_dir=folder), readonly=True)
    except StoreError:
        return 0
    try:
        return catalog.state_counts()["done"]
    except Exception:  # noqa: BLE001 - a catalog being created: not yet
        return 0
    finally:
        catalog.close()


def test_kill_9_during_import_then_rerun_equals_a_clean_import(dump, tmp_path, embedder):
    """A real `newsrag import`, one chunk a batch so that the kills land mid-way."""
    folder = tmp_path / "killed"
    cmd = [sys.executable, "-m", "ui.cli", "import", str(dump), "--data-dir", str(folder),
           "--no-progress"]
    env = dict(os.environ, NEWSRAG_INGEST_BATCH_CHUNKS="1", PYTHONPATH=str(REPO))
    kills = []
    for target in (5, 20):
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.time() + 240
        while _done(folder) < target and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        kills.append((proc.poll() is None, _done(folder)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert all(alive for alive, _ in kills), kills  # each kill landed before the end
    assert kills[-1][1] < 36, kills
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "0 embedded" in done.stdout
    clean = _open(tmp_path / "clean", embedder)
    try:
        import_dump(clean, dump)
    finally:
        clean.close()
    got = fingerprint(Target(folder), embedder)
    assert differences(got, fingerprint(Target(tmp_path / "clean"), embedder)) == []


def test_an_export_is_whole_or_absent(dump, tmp_path, embedder, monkeypatch):
    """An existing path is refused; an export that fails half-way leaves neither the path nor
    its partial folder."""
    index = _open(dump.parent / "source", embedder)
    try:
        with pytest.raises(DumpError, match="exists: export to a new path"):
            export(index, dump)
        calls = {"n": 0}
        original = ChromaStore.vectors

        def failing(self, ids):
            calls["n"] += 1
            if calls["n"] == 2:
                raise StoreError("Chroma went away")
            return original(self, ids)

        monkeypatch.setattr(ChromaStore, "vectors", failing)
        with pytest.raises(StoreError, match="went away"):
            export(index, tmp_path / "half", batch_articles=5)
        assert not (tmp_path / "half").exists()
        assert not (tmp_path / "half.partial").exists()
    finally:
        index.close()


def test_cli_export_reports_what_it_wrote_and_refuses_an_existing_path(dump, tmp_path):
    cmd = [sys.executable, "-m", "ui.cli", "export", str(tmp_path / "d"), "--data-dir",
           str(dump.parent / "source"), "--json"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300,
                          check=False, env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["counts"] == json.loads((dump / "manifest.json").read_text())["counts"]
    assert report["bytes"] == sum(p.stat().st_size for p in (tmp_path / "d").iterdir()
                                  if p.name != "manifest.json")
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300,
                           check=False, env=env)
    assert again.returncode == 2 and "exists: export to a new path" in again.stderr
