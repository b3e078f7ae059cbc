"""Citation checking: every [n] names a given passage, every cited sentence is supported by it."""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.facts import conflicts, published_words
from rag.text import sentence_spans, stems
from rag.types import AnswerSentence, Citation, Passage

MARKER = re.compile(r"\s*\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
# a sentence ends at terminal punctuation (closing quotes and citation markers may follow) when
# the next one starts with a capital, a digit or a quote, or the text ends: "6 a.m. on Saturday"
# is one sentence, and so is "Mr. Okafor said"
# A citation marker after a word ends a sentence too when a capital follows: a quoted sentence
# that has no full stop in its article (a paragraph's end) is still one sentence ("... hitch
# issue [2] Owners of ...")
_END = re.compile(r"(?:[.!?…][\"'”’)\]]*(?:\s*\[\d{1,3}(?:\s*[,;]\s*\d{1,3})*\])*"
                  r"|(?<=[\w%\"'”’)])(?:\s*\[\d{1,3}(?:\s*[,;]\s*\d{1,3})*\])+)"
                  r"(?=\s+[\"'“‘(\[]?[A-Z0-9]|\s*$)")
_ABBREVIATIONS = {"a.m", "p.m", "mr", "mrs", "ms", "dr", "prof", "st", "gen", "gov", "sen", "rep",  # not
                  # "Co." or "Inc.": they often end a sentence
                  "vs", "no", "u.s", "u.k", "u.n", "e.g", "i.e",
                  "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
                  "dec", "jr", "sr", "capt", "lt", "col", "sgt"}


# the article's date an extractive answerer shows with a story's sentence: "On 20 November, "
# (the hand-set one) or "(20 November) " (the learned one)
DATE_LABEL = re.compile(r"^(?:On \d{1,2} [A-Z][a-z]+, |\(\d{1,2} [A-Z][a-z]+(?: \d{4})?\) )")


def _sentences(text: str) -> list[str]:
    """The answer's sentences, each with the markers that follow it."""
    out, cut = [], 0
    for m in _END.finditer(text):
        closed = m.end() > m.start() + 1 and text[m.start() + 1] in "\"'”’)"
        if text[m.start()] == "." and not closed and _abbreviation_before(text, m.start()):
            continue  # "4 a.m. on Monday"; but '... at 4 a.m." Then' ends a sentence
        out.append(text[cut:m.end()])
        cut = m.end()
    out.append(text[cut:])
    return [s for s in out if s.strip()]


def _abbreviation_before(text: str, pos: int) -> bool:
    m = re.search(r"([\w.]+)$", text[max(0, pos - 12):pos])
    if not m:
        return False
    word = m.group(1).lower()
    # "J. Smith": an initial
    return word in _ABBREVIATIONS or (len(word) == 1 and text[pos - 1].isupper())


def split_answer(text: str) -> list[tuple[str, list[int]]]:
    """Answer text -> (sentence without markers, cited numbers); a trailing [n] joins its sentence."""
    out: list[tuple[str, list[int]]] = []
    for sentence in _sentences(text):
        raw = sentence.strip()
        if not raw:
            continue
        nums = [int(x) for g in MARKER.findall(raw) for x in re.split(r"\s*[,;]\s*", g)]
        clean = MARKER.sub("", raw).strip()
        clean = re.sub(r"\s+([.,;:!?])(?=[\s\"'”’)\]]|$)", r"\1", clean)
        if clean:
            out.append((clean, list(dict.fromkeys(nums))))
        elif nums and out:  # markers alone: they belong to the sentence before
            prev, pn = out[-1]
            out[-1] = (prev, list(dict.fromkeys(pn + nums)))
    return out


def _folded(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip(" .")


def split_complete(text: str) -> tuple[str, str]:
    """A streamed draft -> (its complete sentences, the sentence still being written), both
    as the raw text, so that the spaces at piece boundaries survive whatever side they are on.
    A sentence is complete once another has begun (its markers may still follow)."""
    pieces = _sentences(text)
    if len(pieces) < 2:
        return "", text
    last = len(text) - len(pieces[-1])
    return text[:last], text[last:]


@dataclass(frozen=True)
class Support:
    score: float
    span: tuple[int, int]  # offsets of the best-matching sentences in the passage text
    conflicts: tuple[str, ...] = ()  # facts of the claim the passage contradicts or lacks


class SupportScorer:
    """Lexical containment of a claim's content words in a passage, with an embedding check
    for the middle ground. Scores in [0, 1]; the default judge for answers and evaluation."""

    def __init__(self, embed: Callable[[Sequence[str]], np.ndarray] | None = None):
        self.embed = embed

    def score(self, claim: str, passage: str, *, published: str | None = None,
              title: str = "") -> Support:
        """How well `passage` supports `claim`; 0 when a number, date, name, negation or
        quantifier of the claim disagrees with it (shared words alone are not support).
        `published` and `title` are the passage's article metadata a claim may cite."""
        claim_stems = stems(claim)
        spans = sentence_spans(passage) or [(0, len(passage))]
        if not claim_stems:
            return Support(0.0, spans[0])
        passage_stems = stems(passage) | stems(title) | stems(published_words(published))
        containment = len(claim_stems & passage_stems) / len(claim_stems)
        # the supporting span: the passage sentence (or pair) that covers most of the claim;
        # `single` is the best one sentence, which a claim's negation is compared with
        windows = [(a, b) for a, b in spans] + [
            (spans[i][0], spans[i + 1][1]) for i in range(len(spans) - 1)]
        covered = [(len(claim_stems & stems(passage[a:b])) / len(claim_stems), -(b - a), (a, b))
                   for a, b in windows]
        # the shortest window that covers most of the claim: a pair only when it covers more
        best = max(covered)[2]
        single = max(covered[: len(spans)])[2]
        # a verbatim quote cannot contradict its passage (a dated one: "(20 November) ...")
        verbatim = _folded(DATE_LABEL.sub("", claim)) in _folded(passage)
        found = [] if verbatim else conflicts(claim, passage, span=passage[single[0]:single[1]],
                          window=passage[best[0]:best[1]], published=published, title=title)
        if found:
            return Support(0.0, best, tuple(found))
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
    def __init__(self, scorer: SupportScorer, threshold: float = 0.5, unsupported: str = "drop",
                 attach: bool = True, keep_uncited: Sequence[str] = ()):
        self.scorer = scorer
        self.threshold = threshold
        self.unsupported = unsupported  # "drop" the sentence, or "mark" it as unverified
        # a sentence (or a bare short answer) without a marker gets the passage that supports
        # it, checked the same way: small models often leave the markers out
        self.attach = attach
        self.keep_uncited = frozenset(keep_uncited)  # e.g. the abstention sentence

    def _attach(self, text: str, passages: Sequence[Passage]) -> tuple[str, list]:
        """The best-supporting passage of an uncited sentence, if one supports it; a bare
        short answer ("2.3 billion euros") is shown with the sentence that states it."""
        best: tuple[int, Support] | None = None
        for n, p in enumerate(passages, start=1):
            c = p.chunk
            sup = self.scorer.score(text, c.text, published=c.published, title=c.title)
            if sup.score >= self.threshold and (best is None or sup.score > best[1].score):
                best = (n, sup)
        if best is None:
            return text, []
        n, sup = best
        if len(text.split()) <= 5:
            stated = passages[n - 1].chunk.text[sup.span[0]:sup.span[1]]
            if text.rstrip(" .").lower() != stated.rstrip(" .").lower():
                text = f"{text.rstrip(' .')}: {stated}"
        return text, [best]

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
                c = passages[n - 1].chunk
                sup = self.scorer.score(text, c.text, published=c.published, title=c.title)
                if sup.score >= self.threshold:
                    kept.append((n, sup))
            attached = False
            if not nums and self.attach and text not in self.keep_uncited:
                text, kept = self._attach(text, passages)
                attached = bool(kept)
            if not kept and text not in self.keep_uncited:
                if self.unsupported == "drop":
                    continue
                sentences.append(AnswerSentence(text, (), 0.0, supported=False))
                continue
            shown: list[int] = []
            spans: list[tuple[int, int, int]] = []
            for n, sup in kept:
                number = renumber.setdefault(n, len(renumber) + 1)
                shown.append(number)
                spans.append((number, *sup.span))
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
            sentences.append(AnswerSentence(text, tuple(shown), support, supported=bool(kept),
                                            attached=attached, spans=tuple(spans)))
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
