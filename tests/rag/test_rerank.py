"""The reranking stage, at the protocol level: no cross-encoder ships offline (OFFLINE.md), so a
small real scorer stands in for one; CrossEncoderReranker wraps sentence-transformers' own."""
from __future__ import annotations

import pytest

from rag.dates import DateRange
from rag.errors import ConfigError
from rag.retrieve import Retriever, make_filters
from tests.conftest import AS_OF


class OverlapReranker:
    """Scores a passage by how many of the query's words it holds: a real, if simple, scorer."""

    def __init__(self):
        self.calls = 0

    def score(self, query, passages):
        self.calls += 1
        q = set(query.lower().split())
        return [len(q & set(p.lower().split())) + ("tidewheel" in p.lower()) * 10 for p in passages]


def test_reranker_reorders_the_fused_candidates(demo_rag):
    from datetime import date

    rr = OverlapReranker()
    retriever = Retriever(demo_rag.index, reranker=rr)
    res = retriever.retrieve("scooters pulled from service", k=5, filters=make_filters(None, None,
                             None), dates=DateRange(), as_of=date.fromisoformat(AS_OF))
    assert rr.calls == 1
    assert "Tidewheel" in res.passages[0].chunk.text
    assert "rerank" in res.passages[0].scores


def test_cross_encoder_reranker_reports_a_missing_model(tmp_path):
    from rag.rerank import CrossEncoderReranker

    with pytest.raises(ConfigError, match="Cannot load the reranker"):
        CrossEncoderReranker(str(tmp_path / "no-such-model"))
