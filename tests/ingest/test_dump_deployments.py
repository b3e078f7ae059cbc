"""Export and import round trips on every deployment (embedded, a Chroma server, PostgreSQL and a
Chroma server; conftest's POSTGRES_MODE): the same index and the same answers, nothing embedded."""
from __future__ import annotations

import json

import numpy as np

from ingest.export import export
from ingest.importer import import_dump
from rag.index import Index
from rag.pipeline import NewsRAG
from rag.settings import Settings
from tests.conftest import REPO

QUESTIONS = [json.loads(x) for x in
             (REPO / "demo" / "questions.jsonl").read_text().splitlines()][:8]


def _answers(rag: NewsRAG) -> list[tuple]:
    out = []
    for q in QUESTIONS:
        a = rag.ask(q["question"], as_of=q["as_of"])
        out.append((a.text, a.abstained, tuple(c.chunk_id for c in a.citations)))
    return out


def test_export_then_import_gives_the_same_index_and_the_same_answers(
        demo_settings, demo_rag, make_settings, embedder, tmp_path, chroma_mode):
    source = Index.open(demo_settings, embedder)
    try:
        exported = export(source, tmp_path / "dump")
        contents = source.catalog.contents()
        ids = sorted(contents["chunks"])
        vectors = source.store.vectors(ids)
    finally:
        source.close()
    assert exported.counts["articles"] == len(contents["articles"])
    assert exported.counts["chunks"] == len(ids) and exported.pending_left_out == 0
    want = _answers(demo_rag)
    # into a fresh index of the same deployment and, from the servers, into an embedded one
    targets = [make_settings()]
    if chroma_mode != "embedded":
        targets.append(Settings(data_dir=tmp_path / "embedded"))
    for settings in targets:
        index = Index.open(settings, embedder)
        rag = NewsRAG(index)
        try:
            report = import_dump(index, tmp_path / "dump")
            assert report.ingest.vectors_embedded == 0
            assert report.ingest.vectors_reused == len(ids) == report.ingest.chunks
            check = index.verify()
            assert check["consistent"], check
            got = index.catalog.contents()
            for key in ("articles", "chunks", "duplicates"):
                assert got[key] == contents[key], key
            assert index.catalog.counts()["files"] == exported.counts["files"]
            stored = index.store.vectors(ids)
            # the same vectors, up to float rounding inside Chroma (seen: 1.5e-8)
            assert max(np.abs(stored[i] - vectors[i]).max() for i in ids) < 1e-6
            assert _answers(rag) == want
            again = import_dump(index, tmp_path / "dump")  # a second import changes nothing
            assert again.ingest.unchanged == len(contents["articles"])
            assert again.ingest.chunks == 0 and sum(again.rows_added.values()) == 0
        finally:
            rag.close()
