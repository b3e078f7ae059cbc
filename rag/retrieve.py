"""Hybrid retrieval: dense (Chroma) + lexical (BM25), fused by reciprocal rank, then diversified."""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, Protocol

import numpy as np

from rag.dates import DateRange, day_number
from rag.index import Index
from rag.lexical import Filters
from rag.store import Hit
from rag.text import words
from rag.types import Passage

Mode = Literal["hybrid", "dense", "lexical"]
# Retriever._dense: how filters meet the dense search (measured in docs/performance.md)
FEW_CHUNKS = 2000  # a filter that keeps no more chunks than this goes to Chroma
MAX_WIDE = 3000  # the widest unfiltered search for the reader's own filters
MAX_WIDE_PREFERRED = 200  # ... and for a preference (wider found no more: Recall@5 equal)


class Reranker(Protocol):
    def score(self, query: str, passages: Sequence[str]) -> list[float]: ...


@dataclass
class RetrievalResult:
    passages: list[Passage]
    filters: Filters
    dates: DateRange
    timings: dict[str, float] = field(default_factory=dict)


def rrf(rankings: dict[str, Sequence[str]], k: int, weights: dict[str, float] | None = None):
    """Reciprocal rank fusion: sum of w / (k + rank) over the rankings a chunk appears in."""
    fused: dict[str, float] = {}
    parts: dict[str, dict[str, float]] = {}
    for name, ranking in rankings.items():
        w = (weights or {}).get(name, 1.0)
        for rank, cid in enumerate(ranking, start=1):
            fused[cid] = fused.get(cid, 0.0) + w / (k + rank)
            parts.setdefault(cid, {})[f"{name}_rank"] = rank
    return fused, parts


def _similar(a: str, b: str, threshold: float = 0.8) -> bool:
    wa, wb = set(words(a)), set(words(b))
    if not wa or not wb:
        return False
    return len(wa & wb) / min(len(wa), len(wb)) >= threshold


class Retriever:
    def __init__(self, index: Index, reranker: Reranker | None = None,
                 embed: Callable[[Sequence[str]], np.ndarray] | None = None):
        self.index = index
        self.reranker = reranker
        # the question's vector; the pipeline passes its sentence-vector cache, so that the
        # answerer, which compares sentences with the same question, finds it again
        self.embed = embed if embed is not None else (
            lambda texts: index.embedder.embed_batch(texts))
        s = index.settings
        self.candidates = s.candidates
        self.rrf_k = s.rrf_k

    def retrieve(
        self,
        query: str,
        *,
        k: int,
        filters: Filters,
        dates: DateRange,
        as_of: date,
        mode: Mode = "hybrid",
        per_article_cap: int = 2,
        query_vector=None,
        prefer: Filters | None = None,
    ) -> RetrievalResult:
        """`filters` restrict; `prefer` (dates read from the question) adds rankings of the
        matching chunks, so that they rise without the others being excluded."""
        t: dict[str, float] = {}
        n = max(self.candidates, k * 4)
        rankings: dict[str, list[str]] = {}
        dense_sims: dict[str, float] = {}
        if mode in ("hybrid", "dense"):
            t0 = time.perf_counter()
            vec = query_vector if query_vector is not None else self.embed([query])[0]
            t["embed_query"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            nearest = _Nearest(self.index.store, vec)
            # the preference first: its wider search then serves the plain one too
            preferred = None if prefer is None else self._dense(
                nearest, n, prefer, strict=False)
            hits = self._dense(nearest, n, filters, strict=True)
            if preferred is not None:
                rankings["dense_preferred"] = [h.chunk_id for h in preferred]
                hits = hits + preferred
            t["dense"] = time.perf_counter() - t0
            rankings["dense"] = [h.chunk_id for h in hits[:n]]
            dense_sims = {h.chunk_id: 1.0 - h.distance for h in hits}
        lex_scores: dict[str, float] = {}
        if mode in ("hybrid", "lexical"):
            t0 = time.perf_counter()
            found, *preferred_lex = self.index.bm25.rankings(
                query, n, [filters] if prefer is None else [filters, prefer])
            rankings["lexical"] = [cid for cid, _ in found]
            lex_scores = dict(found)
            if preferred_lex:
                rankings["lexical_preferred"] = [cid for cid, _ in preferred_lex[0]]
                lex_scores.update(preferred_lex[0])
            t["lexical"] = time.perf_counter() - t0
        fused, parts = rrf(rankings, self.rrf_k)
        t0 = time.perf_counter()
        chunks = self.index.catalog.chunks_by_ids(list(fused))
        t["fetch"] = time.perf_counter() - t0
        if dates.latest:
            for cid, c in chunks.items():
                fused[cid] *= 1.0 + 0.5 * _recency(c.published, as_of)
        order = sorted((cid for cid in fused if cid in chunks), key=lambda c: -fused[c])
        if self.reranker is not None and order:
            t0 = time.perf_counter()
            head = order[: max(k * 3, 20)]
            scores = self.reranker.score(query, [chunks[c].text for c in head])
            for cid, s in zip(head, scores):
                parts[cid]["rerank"] = float(s)
            order = sorted(head, key=lambda c: -parts[c]["rerank"]) + order[len(head):]
            t["rerank"] = time.perf_counter() - t0
        picked: list[Passage] = []
        per_article: dict[str, int] = {}
        for cid in order:
            c = chunks[cid]
            if per_article.get(c.article_id, 0) >= per_article_cap:
                continue
            if any(_similar(c.text, p.chunk.text) for p in picked):
                continue  # a syndicated or repeated passage adds nothing
            per_article[c.article_id] = per_article.get(c.article_id, 0) + 1
            scores = dict(parts.get(cid, {}))
            if cid in dense_sims:
                scores["dense"] = dense_sims[cid]
            if cid in lex_scores:
                scores["bm25"] = lex_scores[cid]
            picked.append(Passage(c, fused[cid], scores))
            if len(picked) >= k:
                break
        return RetrievalResult(picked, filters, dates, t)


    def _dense(self, nearest: _Nearest, n: int, filters: Filters, strict: bool) -> list[Hit]:
        """The n nearest chunks that pass the filters.

        Chroma applies a filter by first selecting every chunk whose metadata matches, which
        costs as much as the matches (200-330 ms at 100k chunks), while a wide unfiltered
        search costs little (7 ms for 1,000 hits). So: a wide search, filtered here by the
        chunks' dates and outlets held in memory; Chroma's own filter only for a filter that
        keeps very few chunks, or when the wide search found too few and the filter is the
        reader's own (`strict`). A date preference read from the question takes what a
        moderately wide search found: the lexical side finds the rest in the same dates."""
        if filters.is_empty():
            return nearest(n)
        bm25 = self.index.bm25
        share = bm25.share(filters)
        if share == 0.0:
            return []
        if strict and share * bm25.alive_count <= FEW_CHUNKS:
            return self.index.store.query(nearest.vector, n, filters.chroma_where())
        cap = MAX_WIDE if strict else MAX_WIDE_PREFERRED
        wide = min(int(n / share * 1.5) + 10, cap)
        found = nearest(wide)
        ok = bm25.passing([h.chunk_id for h in found], filters)
        hits = [h for h, keep in zip(found, ok) if keep]
        if len(hits) >= n or wide < cap or not strict:
            return hits[:n]
        return self.index.store.query(nearest.vector, n, filters.chroma_where())


class _Nearest:
    """Unfiltered nearest neighbours of one vector; a narrower ask reuses a wider answer."""

    def __init__(self, store, vector):
        self.store, self.vector = store, vector
        self.hits: list[Hit] = []
        self.asked = 0

    def __call__(self, k: int) -> list[Hit]:
        if k > self.asked:
            self.hits, self.asked = self.store.query(self.vector, k), k
        return self.hits[:k]


def _recency(published: str | None, as_of: date) -> float:
    """1.0 for news of the as-of day, halving every two weeks; 0 when undated or later."""
    if not published:
        return 0.0
    try:
        d = date.fromisoformat(published[:10])
    except ValueError:
        return 0.0
    age = (as_of - d).days
    if age < 0:
        return 0.0
    return math.exp(-age * math.log(2) / 14)


def make_filters(
    sources: Sequence[str] | None, since: date | None, until: date | None
) -> Filters:
    return Filters(
        sources=tuple(sorted({s for s in (sources or ()) if s})),
        since_day=day_number(since) if since else None,
        until_day=day_number(until) if until else None,
    )
