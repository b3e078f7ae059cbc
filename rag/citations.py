"""Citation checking: every [n] names a given passage, every cited sentence is supported by it."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from rag.text import sentence_spans, stems
from rag.types import AnswerSentence, Citation, Passage

MARKER = re.compile(r"\s*\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
_SENTENCE = re.compile(r".+?(?:[.!?…][\"'”’)\]]*(?:\s*\[\d{1,3}(?:\s*[,;]\s*\d{1,3})*\])*(?=\s|$)|$)",
                       re.S)


def split_answer(text: str) -> list[tuple[str, list[int]]]:
    """Answer text -> (sentence without markers, cited numbers); a trailing [n] joins its sentence."""
    out: list[tuple[str, list[int]]] = []
    for m in _SENTENCE.finditer(text):
        raw = m.group().strip()
        if not raw:
            continue
        nums = [int(x) for g in MARKER.findall(raw) for x in re.split(r"\s*[,;]\s*", g)]
        clean = MARKER.sub("", raw).strip()
        clean = re.sub(r"\s+([.,;:!?])", r"\1", clean)
        if clean:
            out.append((clean, list(dict.fromkeys(nums))))
        elif nums and out:  # markers alone: they belong to the sentence before
            prev, pn = out[-1]
            out[-1] = (prev, list(dict.fromkeys(pn + nums)))
    return out


@dataclass(frozen=True)
class Support:
    score: float
    span: tuple[int, int]  # offsets of the best-matching sentences in the passage text


class SupportScorer:
    """Lexical containment of a claim's content words in a passage, with an embedding check
    for the middle ground. Scores in [0, 1]; the default judge for answers and evaluation."""

    def __init__(self, embed: Callable[[Sequence[str]], np.ndarray] | None = None):
        self.embed = embed

    def score(self, claim: str, passage: str) -> Support:
        claim_stems = stems(claim)
        spans = sentence_spans(passage) or [(0, len(passage))]
        if not claim_stems:
            return Support(0.0, spans[0])
        passage_stems = stems(passage)
        containment = len(claim_stems & passage_stems) / len(claim_stems)
        # the supporting span: the passage sentence (or pair) that covers most of the claim
        best, best_cov = spans[0], -1.0
        for i, (a, b) in enumerate(spans):
            for j in (i, min(i + 1, len(spans) - 1)):
                cov = len(claim_stems & stems(passage[a : spans[j][1]])) / len(claim_stems)
                if cov > best_cov + 1e-9:
                    best, best_cov = (a, spans[j][1]), cov
        score = containment
        if self.embed is not None and 0.25 <= containment < 0.85:
            va, vb = self.embed([claim, passage[best[0] : best[1]]])
            cos = float(np.dot(va, vb))
            score = 0.6 * containment + 0.4 * max(0.0, (cos - 0.2) / 0.8)
        return Support(score, best)


@dataclass(frozen=True)
class Checked:
    text: str
    sentences: tuple[AnswerSentence, ...]
    citations: tuple[Citation, ...]


class CitationChecker:
    def __init__(self, scorer: SupportScorer, threshold: float = 0.5, unsupported: str = "drop"):
        self.scorer = scorer
        self.threshold = threshold
        self.unsupported = unsupported  # "drop" the sentence, or "mark" it as unverified

    def check(self, draft: str, passages: Sequence[Passage], renumber: dict[int, int]) -> Checked:
        """Keep citations to given, supporting passages; renumber them in order of first use.

        `renumber` maps given passage numbers to shown numbers and grows as citations are
        accepted, so a streamed answer keeps one numbering across calls."""
        sentences: list[AnswerSentence] = []
        citations: dict[int, Citation] = {}
        for text, nums in split_answer(draft):
            valid = [n for n in nums if 1 <= n <= len(passages)]  # others never shown
            kept: list[tuple[int, Support]] = []
            for n in valid:
                sup = self.scorer.score(text, passages[n - 1].chunk.text)
                if sup.score >= self.threshold:
                    kept.append((n, sup))
            if nums and not kept:
                if self.unsupported == "drop":
                    continue
                sentences.append(AnswerSentence(text, (), 0.0, supported=False))
                continue
            shown: list[int] = []
            for n, sup in kept:
                number = renumber.setdefault(n, len(renumber) + 1)
                shown.append(number)
                c = passages[n - 1].chunk
                prev = citations.get(number)
                if prev is None or sup.score > prev.support:
                    citations[number] = Citation(
                        number=number, chunk_id=c.id, article_id=c.article_id, title=c.title,
                        source=c.source, url=c.url, published=c.published, passage=c.text,
                        span_start=c.start + sup.span[0], span_end=c.start + sup.span[1],
                        support=sup.score, chunk_start=c.start,
                    )
            support = max((s.score for _, s in kept), default=0.0)
            sentences.append(AnswerSentence(text, tuple(shown), support, supported=bool(kept)))
        return Checked(render(sentences), tuple(sentences), tuple(citations[k] for k in sorted(citations)))


def render(sentences: Sequence[AnswerSentence]) -> str:
    parts = []
    for s in sentences:
        marks = "".join(f"[{n}]" for n in s.citations)
        if s.supported or not s.text:
            parts.append(f"{s.text} {marks}".strip())
        else:
            parts.append(f"{s.text} (unverified)")
    return " ".join(parts)
