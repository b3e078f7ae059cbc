"""The benchmark grows indexes through the index's own write: real chunks and vectors, then
rotated copies, consistent like any ingest."""
from __future__ import annotations

import numpy as np

from harness.bench import grow_index
from rag.index import Index


def test_a_grown_index_is_consistent_and_keeps_the_real_vectors(demo_settings, tmp_path, embedder):
    src = Index.open(demo_settings, embedder)
    have = src.catalog.counts()["chunks"]
    some = sorted(src.catalog.all_chunk_ids())[:3]
    real = src.store.vectors(some)
    src.close()
    target = demo_settings.replace(data_dir=tmp_path / "grown", chroma_url=None,
                                   collection="news")
    n = have + have // 2
    assert grow_index(demo_settings, target, n) == n
    grown = Index.open(target, embedder)
    try:
        check = grown.verify()
        assert check["consistent"], check
        assert grown.catalog.counts()["chunks"] == n and grown.store.count() == n
        copies = grown.store.vectors([f"{c.split('-')[0]}v0-{c.split('-')[1]}" for c in some])
        for c, v in zip(some, copies.values()):
            assert np.allclose(real[c], v, atol=1e-6)  # the first copy: the real vectors
    finally:
        grown.close()
    assert grow_index(demo_settings, target, n) == n  # already grown: nothing written
