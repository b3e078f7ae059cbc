"""The default answerer: picks the retrieved sentences that best answer the question and cites them.

Offline, instant, nothing to download. It never writes a word that is not in a passage.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Callable, Iterator, Sequence

import numpy as np

from rag.answerers.base import NOT_COVERED
from rag.text import looks_like_instruction, sentence_spans, stem, content_words, words
from rag.types import Passage


@dataclass(frozen=True)
class Candidate:
    passage: int  # 1-based number
    text: str
    lexical: float
    score: float


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(
        self,
        embed: Callable[[Sequence[str]], np.ndarray] | None = None,
        doc_freq: Callable[[Sequence[str]], dict[str, int]] | None = None,
        total_docs: Callable[[], int] | None = None,
        max_sentences: int = 3,
        min_score: float = 0.25,
    ):
        self.embed = embed
        self.doc_freq = doc_freq
        self.total_docs = total_docs
        self.max_sentences = max_sentences
        self.min_score = min_score

    def stream(
        self,
        question: str,
        passages: Sequence[Passage],
        *,
        as_of: date,
        history: Sequence[tuple[str, str]] = (),
    ) -> Iterator[str]:
        picked = self.select(question, passages)
        if not picked:
            yield NOT_COVERED
            return
        for i, c in enumerate(picked):
            yield ("" if i == 0 else " ") + f"{c.text} [{c.passage}]"

    def weights(self, terms: Sequence[str]) -> dict[str, float]:
        """IDF-like weights: rare words (names, numbers) count for more than common ones."""
        if not self.doc_freq or not self.total_docs:
            return {t: 1.0 for t in terms}
        n = max(self.total_docs(), 1)
        df = self.doc_freq(terms)
        return {t: math.log(1 + n / (1 + df.get(t, 0))) for t in terms}

    def select(self, question: str, passages: Sequence[Passage]) -> list[Candidate]:
        terms = list(dict.fromkeys(content_words(question)))
        if not terms or not passages:
            return []
        w = self.weights(terms)
        stemmed: dict[str, float] = {}
        for t in terms:
            stemmed[stem(t)] = max(stemmed.get(stem(t), 0.0), w[t])
        total = sum(stemmed.values())
        dense = [p.scores.get("dense") for p in passages]
        has_dense = any(d is not None for d in dense)
        cands: list[Candidate] = []
        matched: dict[str, int] = {}
        for n, p in enumerate(passages, start=1):
            text = p.chunk.text
            prior = 0.1 / n + 0.2 * (dense[n - 1] or 0.0)
            for a, b in sentence_spans(text):
                s = text[a:b]
                toks = words(s)
                if len(toks) < 5 or s.rstrip().endswith("?") or looks_like_instruction(s):
                    continue
                have = {stem(x) for x in toks}
                hits = [k for k in stemmed if k in have]
                lex = sum(stemmed[k] for k in hits) / total
                matched[s] = len(hits)
                cands.append(Candidate(n, s, lex, lex + prior))
        if not cands:
            return []
        cands.sort(key=lambda c: -c.score)
        head = cands[:10]
        if self.embed is not None:  # optional: sentence-level similarity (slower)
            vecs = self.embed([question] + [c.text for c in head])
            sims = vecs[1:] @ vecs[0]
            head = [
                Candidate(c.passage, c.text, c.lexical, 0.6 * c.score + 0.5 * float(sim))
                for c, sim in zip(head, sims)
            ]
            head.sort(key=lambda c: -c.score)
        best = head[0]
        # relevance gate: enough of the question's weight, and a passage close in meaning
        closeness = min(1.0, max(d or 0.0 for d in dense) / 0.5) if has_dense else 1.0
        enough_terms = matched[best.text] >= 2 or (best.lexical >= 0.4 and closeness >= 0.8)
        if best.lexical * closeness < self.min_score or not enough_terms:
            return []
        picked = [best]
        for c in head[1:]:
            if len(picked) >= self.max_sentences:
                break
            if c.score < 0.75 * best.score or c.lexical < 0.2:
                continue
            if any(_overlap(c.text, p.text) > 0.6 for p in picked):
                continue
            picked.append(c)
        return picked


def _overlap(a: str, b: str) -> float:
    wa, wb = set(content_words(a)), set(content_words(b))
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / min(len(wa), len(wb))
