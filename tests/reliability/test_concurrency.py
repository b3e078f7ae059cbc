"""Reading while writing: questions keep being answered, consistently, while an ingest runs.

In one process (a thread ingests) and across processes (the CLI ingests), with embedded Chroma
and with a Chroma server: an embedded reader reopens its Chroma client when another process
committed to the catalog (issue 36). The last test pins the StoreError for a vector index
changed under a reader, as docs/reliability.md explains.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from harness.synth import synth_article
from ingest.run import ingest
from rag.errors import StoreError
from rag.index import Index
from rag.pipeline import NewsRAG
from tests.conftest import REPO

AS_OF = "2026-11-01"


def _write(path: Path, articles: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(a) + "\n" for a in articles))
    return path


def _question(article: dict) -> str:
    return "What happened with " + " ".join(article["title"].split()[:5]) + "?"


def _problems(rag: NewsRAG, answer) -> list[str]:
    """Citations or passages that point at chunks the catalog does not hold."""
    wanted = {c.chunk_id for c in answer.citations} | {p.chunk.id for p in answer.passages}
    held = rag.index.catalog.chunks_by_ids(sorted(wanted))
    return [f"{answer.question!r} cites missing chunk {cid}" for cid in sorted(wanted - set(held))]


class Asker:
    """Asks questions in a loop until stopped; keeps errors and inconsistent answers."""

    def __init__(self, rag: NewsRAG, questions: list[str]):
        self.rag, self.questions = rag, questions
        self.asked, self.cited, self.problems = 0, 0, []

    def run_while(self, busy) -> None:
        while True:
            running = busy()
            q = self.questions[self.asked % len(self.questions)]
            try:
                answer = self.rag.ask(q, as_of=AS_OF)
                self.problems += _problems(self.rag, answer)
                self.cited += len(answer.citations)
            except Exception as e:  # noqa: BLE001 - every error is a finding
                self.problems.append(f"{q!r}: {type(e).__name__}: {e}")
            self.asked += 1
            if not running:
                return


def _setup(make_settings, tmp_path, embedder):
    first = [synth_article(i, seed=4) for i in range(8)]
    new = [synth_article(i, seed=4) for i in range(100, 110)]
    corpus = tmp_path / "corpus"
    _write(corpus / "a.jsonl", first)
    settings = make_settings(ingest_batch_chunks=4)
    index = Index.open(settings, embedder)
    ingest(index, [corpus])
    index.close()
    # what the ingest will do: new articles in a new file, longer texts for three old ones
    changed = [dict(a, text=a["text"] + "\n\nThe story was updated with new figures on Monday.")
               if i < 3 else a for i, a in enumerate(first)]
    return settings, corpus, first, new, changed


def _found_by_dense(rag: NewsRAG, article: dict) -> bool:
    passages = rag.retrieve(article["title"], as_of=AS_OF, mode="dense", k=5)
    return any(p.chunk.url == article["url"] for p in passages)


def test_queries_stay_consistent_while_a_thread_ingests(make_settings, tmp_path, embedder):
    settings, corpus, first, new, changed = _setup(make_settings, tmp_path, embedder)
    rag = NewsRAG(Index.open(settings, embedder))
    _write(corpus / "a.jsonl", changed)
    _write(corpus / "b.jsonl", new)
    writer_index = Index.open(settings, embedder)  # its own catalog connection, as a job would
    errors: list[BaseException] = []

    def write() -> None:
        try:
            ingest(writer_index, [corpus])
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    writer = threading.Thread(target=write)
    asker = Asker(rag, [_question(a) for a in first + new])
    writer.start()
    asker.run_while(writer.is_alive)
    writer.join()
    writer_index.close()
    assert errors == []
    assert asker.problems == [] and asker.asked >= 3 and asker.cited > 0
    assert _found_by_dense(rag, new[-1])  # the reader sees the new vectors at once
    assert rag.index.verify()["consistent"]
    rag.close()


def _cli_ingest(settings, corpus: Path) -> subprocess.Popen:
    flags = ["--data-dir", str(settings.data_dir), "--collection", settings.collection]
    if settings.chroma_url:
        flags += ["--chroma-url", settings.chroma_url]
    env = dict(os.environ, NEWSRAG_INGEST_BATCH_CHUNKS="4", PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "ui.cli", "ingest", "--no-progress", *flags,
                             str(corpus)], env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_queries_stay_consistent_while_another_process_ingests(
        make_settings, tmp_path, embedder, chroma_mode):
    settings, corpus, first, new, changed = _setup(make_settings, tmp_path, embedder)
    rag = NewsRAG(Index.open(settings, embedder))
    rag.ask(_question(first[0]), as_of=AS_OF)  # loads the vector index into this process
    _write(corpus / "a.jsonl", changed)
    _write(corpus / "b.jsonl", new)
    proc = _cli_ingest(settings, corpus)
    asker = Asker(rag, [_question(a) for a in first + new])
    asker.run_while(lambda: proc.poll() is None)
    _, err = proc.communicate()
    assert proc.returncode == 0, err
    assert asker.problems == [] and asker.asked >= 3 and asker.cited > 0
    # the other process's vectors are found: through the server, or (embedded) because the
    # reader reopened its Chroma client when the catalog changed
    assert _found_by_dense(rag, new[-1])
    assert rag.index.verify()["consistent"]
    rag.close()


def test_a_vector_index_changed_under_a_reader_is_a_clear_error(make_settings, embedder,
                                                              monkeypatch, chroma_mode):
    """What Chroma raised in a reader process that had queried an empty embedded collection
    before another process wrote to it (seen with chromadb 1.5.9), becomes a StoreError."""
    from chromadb.errors import InternalError

    if chroma_mode == "server":
        pytest.skip("about embedded Chroma only")
    index = Index.open(make_settings(), embedder)
    _write(Path(make_settings().data_dir).parent / "c" / "a.jsonl", [synth_article(1)])
    ingest(index, [Path(make_settings().data_dir).parent / "c"])

    def stale(*args, **kwargs):
        raise InternalError("Error executing plan: Internal error: Error creating hnsw segment "
                            "reader: Nothing found on disk")

    monkeypatch.setattr(index.store.collection, "query", stale)
    with pytest.raises(StoreError, match="another process wrote to this embedded index"):
        index.store.query(embedder.embed_batch(["harbour"])[0], 3)
    index.close()
