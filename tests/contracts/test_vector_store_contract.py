"""The VectorStore protocol, run against Chroma embedded and a real `chroma run` server."""
from __future__ import annotations

import numpy as np
import pytest

from rag.errors import IndexMismatchError
from rag.filters import Filters
from rag.index import chunk_metadata
from rag.protocols import VectorStore
from tests.contracts.conftest import DIM, article, unit

PARAS = [f"Paragraph {i} of the ferry timetable story, about sailing {i}." for i in range(6)]


def _fill(store):
    _, ca = article(1, PARAS[:3], source="Gazette", published="2026-11-20T08:00:00Z")
    _, cb = article(2, PARAS[3:], source="Courier", published="2026-10-02")
    chunks = ca + cb
    vectors = np.stack([unit(i) for i in range(len(chunks))])
    store.upsert(chunks, vectors, [chunk_metadata(c) for c in chunks])
    return chunks, vectors


def test_it_is_a_vector_store(vector_store):
    assert isinstance(vector_store, VectorStore) and not vector_store.read_only
    assert vector_store.count() == 0 and vector_store.all_ids() == set()
    assert vector_store.query(unit(0), 3) == []  # an empty store answers, empty


def test_nearest_first_and_vectors_kept(vector_store):
    chunks, vectors = _fill(vector_store)
    for i, c in enumerate(chunks):
        hits = vector_store.query(vectors[i], 3)
        assert hits[0].chunk_id == c.id and hits[0].distance == pytest.approx(0.0, abs=1e-4)
        assert [h.distance for h in hits] == sorted(h.distance for h in hits)
    got = vector_store.vectors([chunks[2].id, "missing"])
    assert list(got) == [chunks[2].id]
    assert np.allclose(got[chunks[2].id], vectors[2], atol=1e-6)
    assert vector_store.documents() == {c.id: c.text for c in chunks}
    assert vector_store.count() == 6 and vector_store.all_ids() == {c.id for c in chunks}


def test_filters_by_source_and_day(vector_store):
    chunks, vectors = _fill(vector_store)
    q = vectors[4]  # a Courier chunk: filtered to the Gazette, it cannot come back
    gazette = {c.id for c in chunks if c.source == "Gazette"}
    assert {h.chunk_id for h in vector_store.query(q, 6, Filters(sources=("Gazette",)))} == gazette
    both = vector_store.query(q, 6, Filters(sources=("Gazette", "Courier")))
    assert len(both) == 6
    november = vector_store.query(q, 6, Filters(since_day=20261101))
    assert {h.chunk_id for h in november} == gazette
    october = vector_store.query(q, 6, Filters(since_day=20261001, until_day=20261031))
    assert {h.chunk_id for h in october} == {c.id for c in chunks} - gazette
    assert vector_store.query(q, 6, Filters(sources=("Nobody",))) == []
    assert len(vector_store.query(q, 6, Filters())) == 6  # empty filters: no restriction


def test_upsert_replaces_and_deletes_remove(vector_store):
    chunks, _ = _fill(vector_store)
    moved = np.stack([unit(5)])
    vector_store.upsert(chunks[:1], moved, [chunk_metadata(chunks[0])])
    assert vector_store.count() == 6
    assert np.allclose(vector_store.vectors([chunks[0].id])[chunks[0].id], moved[0], atol=1e-6)
    vector_store.delete_ids([chunks[1].id])
    assert chunks[1].id not in vector_store.all_ids()
    vector_store.delete_articles([chunks[3].article_id, "no-such-article"])
    assert vector_store.all_ids() == {chunks[0].id, chunks[2].id}
    vector_store.delete_articles([])
    vector_store.upsert([], np.zeros((0, DIM), np.float32), [])
    assert vector_store.count() == 2


def test_it_refuses_another_embedder(vector_store, request, tmp_path):
    from rag.store import ChromaStore

    where = ({"url": vector_store.url, "collection": vector_store.collection.name}
             if vector_store.url else {"path": tmp_path / "chroma", "collection": "contract"})
    with pytest.raises(IndexMismatchError, match="built with embedder"):
        ChromaStore(embedder_name="another-model", dimension=DIM + 1, **where)
