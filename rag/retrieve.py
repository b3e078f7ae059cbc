"""Hybrid retrieval: dense (Chroma) + lexical (BM25), fused by reciprocal rank, then diversified."""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, Protocol

import numpy as np

from rag.dates import DateRange, day_number
from rag.filters import Filters
from rag.index import Index
from rag.store import Hit
from rag.text import content_words, words
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


def _similar(a: str, b: str, threshold: float = 0.8, asked: frozenset[str] = frozenset()
             ) -> bool:
    """`a` repeats `b`: most of its words are b's, and it holds none of the question's words
    that b lacks. Two stories written on one template (the keeper of one lighthouse, then of
    another; the same notice for two towns) differ in just the name asked about: both stay."""
    wa, wb = set(words(a)), set(words(b))
    if not wa or not wb:
        return False
    if (asked & wa) - wb:
        return False
    return len(wa & wb) / min(len(wa), len(wb)) >= threshold


@dataclass
class _Work:
    """One question's way through the stages."""
    query: str
    n: int  # candidates per ranking
    filters: Filters
    prefer: Filters | None
    rankings: dict[str, list[str]] = field(default_factory=dict)
    dense_sims: dict[str, float] = field(default_factory=dict)
    lex_scores: dict[str, float] = field(default_factory=dict)
    fused: dict[str, float] = field(default_factory=dict)
    parts: dict[str, dict[str, float]] = field(default_factory=dict)
    chunks: dict = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    vector: Any = None  # the question's, once the dense stage embedded it

    def sort(self) -> None:
        self.order = sorted((c for c in self.fused if c in self.chunks), key=lambda c: -self.fused[c])


def _timed(timings: dict[str, float], name: str, fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    timings[name] = time.perf_counter() - t0
    return out


LATEST_WEIGHT, LATEST_HALF_LIFE_DAYS = 0.5, 14.0  # "latest" questions: x1.5, halving fortnightly


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
        self.prior_half_life = s.recency_prior_half_life_days
        self.prior = s.recency_prior

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
        """The named stages, each timed: dense, lexical, fuse, boost, rerank, diversify.

        `filters` restrict; `prefer` (dates read from the question) adds rankings of the
        matching chunks, so that they rise without the others being excluded."""
        w = _Work(query=query, n=max(self.candidates, k * 4), filters=filters, prefer=prefer)
        t = w.timings
        if mode in ("hybrid", "dense"):
            self.dense(w, query_vector)
        if mode in ("hybrid", "lexical"):
            _timed(t, "lexical", self.lexical, w)
        _timed(t, "fuse", self.fuse, w)
        if dates.latest:
            _timed(t, "boost", self.boost, w, as_of, LATEST_WEIGHT, LATEST_HALF_LIFE_DAYS)
        elif self.prior and prefer is None and not dates.phrase and filters.since_day is None \
                and filters.until_day is None:
            _timed(t, "boost", self.boost, w, as_of, self.prior, self.prior_half_life, True)
        if self.reranker is not None and w.order:
            _timed(t, "rerank", self.rerank, w, k)
        picked = _timed(t, "diversify", self.diversify, w, k, per_article_cap)
        return RetrievalResult(picked, filters, dates, t)

    # ---------------------------------------------------------------- the stages
    def dense(self, w: _Work, query_vector=None) -> None:
        """The nearest chunks to the question's vector that pass the filters (and, as a
        second ranking, those that match the preference)."""
        vec = _timed(w.timings, "embed_query", lambda: (
            query_vector if query_vector is not None else self.embed([w.query])[0]))
        t0 = time.perf_counter()
        w.vector = vec
        nearest = _Nearest(self.index.store, vec)
        # the preference first: its wider search then serves the plain one too
        preferred = None if w.prefer is None else self._dense(
            nearest, w.n, w.prefer, strict=False)
        hits = self._dense(nearest, w.n, w.filters, strict=True)
        if preferred is not None:
            w.rankings["dense_preferred"] = [h.chunk_id for h in preferred]
            hits = hits + preferred
        w.timings["dense"] = time.perf_counter() - t0
        w.rankings["dense"] = [h.chunk_id for h in hits[:w.n]]
        w.dense_sims = {h.chunk_id: 1.0 - h.distance for h in hits}

    def lexical(self, w: _Work) -> None:
        """BM25 over the chunks that pass the filters (and over those of the preference)."""
        found, *preferred = self.index.bm25.rankings(
            w.query, w.n, [w.filters] if w.prefer is None else [w.filters, w.prefer])
        w.rankings["lexical"] = [cid for cid, _ in found]
        w.lex_scores = dict(found)
        if preferred:
            w.rankings["lexical_preferred"] = [cid for cid, _ in preferred[0]]
            w.lex_scores.update(preferred[0])

    def fuse(self, w: _Work) -> None:
        """Reciprocal rank fusion of the rankings; the fused chunks read from the catalog."""
        w.fused, w.parts = rrf(w.rankings, self.rrf_k)
        w.chunks = self.index.catalog.chunks_by_ids(list(w.fused))
        w.sort()

    def boost(self, w: _Work, as_of: date, weight: float, half_life: float,
              undated_neutral: bool = False) -> None:
        """Newer news rises: x(1 + weight) on the as-of day, the gain halving every half-life.
        Undated news gains nothing, or, when neutral, the median gain of the dated candidates
        (a prior over every question must not sink an article whose date was not found)."""
        gains = {cid: _recency(c.published, as_of, half_life) for cid, c in w.chunks.items()}
        known = sorted(g for g in gains.values() if g is not None)
        fill = known[len(known) // 2] if undated_neutral and known else 0.0
        for cid, g in gains.items():
            w.fused[cid] *= 1.0 + weight * (fill if g is None else g)
        w.sort()

    def rerank(self, w: _Work, k: int) -> None:
        """The reranker's order for the head of the fused ranking."""
        head = w.order[: max(k * 3, 20)]
        scores = self.reranker.score(w.query, [w.chunks[c].text for c in head])
        for cid, s in zip(head, scores):
            w.parts[cid]["rerank"] = float(s)
        w.order = sorted(head, key=lambda c: -w.parts[c]["rerank"]) + w.order[len(head):]

    def diversify(self, w: _Work, k: int, per_article_cap: int) -> list[Passage]:
        """The first k passages, at most `per_article_cap` per article, no near-repeats."""
        picked: list[Passage] = []
        per_article: dict[str, int] = {}
        asked = frozenset(content_words(w.query))
        for cid in w.order:
            c = w.chunks[cid]
            if per_article.get(c.article_id, 0) >= per_article_cap:
                continue
            if any(_similar(c.text, p.chunk.text, asked=asked) for p in picked):
                continue  # a syndicated or repeated passage adds nothing
            per_article[c.article_id] = per_article.get(c.article_id, 0) + 1
            scores = dict(w.parts.get(cid, {}))
            if cid in w.dense_sims:
                scores["dense"] = w.dense_sims[cid]
            if cid in w.lex_scores:
                scores["bm25"] = w.lex_scores[cid]
            picked.append(Passage(c, w.fused[cid], scores))
            if len(picked) >= k:
                break
        return self._exact_dense(w, picked)

    def _exact_dense(self, w: _Work, picked: list[Passage]) -> list[Passage]:
        """The closeness in meaning of each picked passage that the dense search did not
        return (found by BM25 alone), from its stored vector: the answerer weighs it, and an
        approximate (HNSW) search can miss a close vector among many alike (seen: a new page's
        chunk at cosine distance 0.43 missed at k <= 500, the neighbours returned at 0.77)."""
        missing = [p.chunk.id for p in picked if "dense" not in p.scores]
        if w.vector is None or not missing:
            return picked
        stored = self.index.store.vectors(missing)
        q = np.asarray(w.vector, dtype=np.float32)
        q = q / (np.linalg.norm(q) or 1.0)
        for p in picked:
            v = stored.get(p.chunk.id)
            if v is not None and "dense" not in p.scores:
                p.scores["dense"] = float(np.dot(q, v) / (np.linalg.norm(v) or 1.0))
        return picked

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
            return self.index.store.query(nearest.vector, n, filters)
        cap = MAX_WIDE if strict else MAX_WIDE_PREFERRED
        wide = min(int(n / share * 1.5) + 10, cap)
        found = nearest(wide)
        ok = bm25.passing([h.chunk_id for h in found], filters)
        hits = [h for h, keep in zip(found, ok) if keep]
        if len(hits) >= n or wide < cap or not strict:
            return hits[:n]
        return self.index.store.query(nearest.vector, n, filters)


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


def _recency(published: str | None, as_of: date, half_life: float) -> float | None:
    """1.0 for news of the as-of day, halving every half-life (days); 0 when later than the
    as-of day; None when undated (or the date does not parse)."""
    if not published:
        return None
    try:
        d = date.fromisoformat(published[:10])
    except ValueError:
        return None
    age = (as_of - d).days
    if age < 0:
        return 0.0
    return math.exp(-age * math.log(2) / half_life)


def make_filters(
    sources: Sequence[str] | None, since: date | None, until: date | None
) -> Filters:
    return Filters(
        sources=tuple(sorted({s for s in (sources or ()) if s})),
        since_day=day_number(since) if since else None,
        until_day=day_number(until) if until else None,
    )
