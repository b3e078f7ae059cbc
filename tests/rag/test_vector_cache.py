"""The sentence-vector cache: only unseen texts reach the model, results match, memory is bounded."""
from __future__ import annotations

import numpy as np
import pytest

from rag.vector_cache import VectorCache


class Counting:
    """A tiny real embedder (word lengths, normalised) that counts what it is asked."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def __call__(self, texts):
        self.asked.append(list(texts))
        out = np.zeros((len(texts), 4), dtype=np.float32)
        for i, t in enumerate(texts):
            for j, w in enumerate(t.split()[:4]):
                out[i, j] = len(w)
            out[i] /= np.linalg.norm(out[i]) or 1.0
        return out


def test_only_unseen_texts_are_embedded_and_results_match() -> None:
    model = Counting()
    cache = VectorCache(model, size=10)
    first = cache(["a bb", "ccc d", "a bb"])
    assert model.asked == [["a bb", "ccc d"]]  # once each, duplicates too
    again = cache(["ccc d", "eeee", "a bb"])
    assert model.asked[1] == ["eeee"]
    np.testing.assert_array_equal(again[0], first[1])
    np.testing.assert_array_equal(again[2], model(["a bb"])[0])
    assert (cache.hits, cache.misses) == (3, 3)


def test_the_cache_is_bounded_least_recent_first() -> None:
    model = Counting()
    cache = VectorCache(model, size=2)
    cache(["one", "two"])
    cache(["one"])  # "two" is now the least recently used
    cache(["three"])
    assert len(cache) == 2
    cache(["one", "two"])
    assert model.asked[-1] == ["two"]


def test_a_bad_embedder_or_size_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        VectorCache(Counting(), size=0)
    with pytest.raises(ValueError, match="returned 1 vectors for 2"):
        VectorCache(lambda texts: np.zeros((1, 4)))(["a", "b"])
    cache = VectorCache(Counting())
    vec = cache(["x y"])
    vec[0][0] = 5.0  # the caller's array is its own: the remembered vector does not change
    assert cache(["x y"])[0][0] != 5.0


def test_a_forgotten_text_is_embedded_again() -> None:
    model = Counting()
    cache = VectorCache(model)
    cache(["q one", "s two"])
    cache.forget(["q one", "never seen"])
    cache(["q one", "s two"])
    assert model.asked[-1] == ["q one"] and len(cache) == 2


def test_the_pipeline_shares_one_cache_for_the_question_and_its_sentences(demo_rag) -> None:
    """An empty cache is falsy (it has a length): it must still be the one used."""
    from rag.pipeline import NewsRAG

    fresh = NewsRAG(demo_rag.index)
    assert fresh.retriever.embed is fresh.sentence_vectors
    fresh.ask("Who was appointed to mediate the Port Calder transit strike?", as_of="2026-11-24")
    assert fresh.sentence_vectors.hits >= 1  # the answerer found the question's vector
