"""The learned answerer (`NEWSRAG_ANSWERER=learned`): a learned scorer reads every sentence of the retrieved passages for "this
states what was asked", leads with the best one, adds only what the scorer says adds to it, and
cites each sentence. Below the learned threshold it says the news does not cover the question.

Offline, nothing to download: the scorer is a small file trained by `make train`
(rag/models/answerer.npz, docs/answerer.md). It never writes a word that is not in a passage,
except the date of the article a sentence comes from, shown beside a story's sentences.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from rag.answer_features import (
    FIRST_FEATURES,
    MEANING_CANDIDATES,
    SECOND_FEATURES,
    Candidate,
    candidates,
    day_of,
    matrix,
    meaning_features,
    plain,
    term_weights,
)
from rag.answer_model import MODEL_PATH, AnswerModel
from rag.answerers.base import NOT_COVERED
from rag.facts import MONTHS
from rag.question import Question, analyse, parts
from rag.text import content_words
from rag.types import Passage

MAX_WORDS = 80  # the lead sentence and what follows it: about 80 words


@dataclass(frozen=True)
class Scored:
    """A candidate sentence with the scorer's probability that it states what was asked."""
    candidate: Candidate
    p: float

    @property
    def text(self) -> str:
        return self.candidate.text

    @property
    def passage(self) -> int:
        return self.candidate.passage


class LearnedAnswerer:
    name = "learned"
    complete = None  # no model to rewrite a follow-up with: the rule-based rewrite

    def __init__(
        self,
        embed: Callable[[Sequence[str]], np.ndarray] | None = None,
        doc_freq: Callable[[Sequence[str]], dict[str, int]] | None = None,
        total_docs: Callable[[], int] | None = None,
        model: AnswerModel | str | Path | None = None,
    ):
        self.embed = embed
        self.doc_freq = doc_freq
        self.total_docs = total_docs
        self.model = model if isinstance(model, AnswerModel) else AnswerModel.load(
            model or MODEL_PATH)
        s = self.model.settings
        self.abstain_below = float(s["abstain_below"])
        self.add_at_least = float(s["add_at_least"])
        self.max_sentences = int(s["max_sentences"])

    def stream(self, question: str, passages: Sequence[Passage], *, as_of: date,
               history: Sequence[tuple[str, str]] = ()) -> Iterator[str]:
        picked, dated = self.answer(question, passages, as_of)
        if not picked:
            yield NOT_COVERED
            return
        for i, s in enumerate(picked):
            text = _dated(s.text, s.candidate.published, as_of) if dated else s.text
            yield ("" if i == 0 else " ") + f"{text} [{s.passage}]"

    # ------------------------------------------------------------------ the answer
    def answer(self, question: str, passages: Sequence[Passage],
               as_of: date | None = None) -> tuple[list[Scored], bool]:
        """The sentences that answer, and whether to date them (a story's course)."""
        question = plain(question)
        pieces = parts(question)
        if len(pieces) > 1:  # a two-part question: each part's own lead
            picked: list[Scored] = []
            for piece in pieces:
                ranked = self.score(piece, passages, as_of)
                if ranked and ranked[0].p >= self.abstain_below and all(
                        ranked[0].text != s.text for s in picked):
                    picked.append(ranked[0])
            if picked:
                return picked, False
        q = analyse(question)
        ranked = self.score(question, passages, as_of, q)
        if not ranked or ranked[0].p < self.abstain_below:
            return [], False
        if q.story:
            return self._story(ranked), True
        return self._compose(ranked), False

    def score(self, question: str, passages: Sequence[Passage], as_of: date | None = None,
              q: Question | None = None) -> list[Scored]:
        """The best candidates, scored by the second stage, best first."""
        q = q or analyse(plain(question))
        total = self.total_docs() if self.total_docs else 0
        weights = term_weights(q, self.doc_freq, total)
        cands = candidates(q, passages, weights, as_of)
        if not cands:
            return []
        first = self.model.first.predict_proba(matrix(cands, FIRST_FEATURES))
        top = np.argsort(-first, kind="stable")[:MEANING_CANDIDATES]
        best = [cands[i] for i in top]
        titles = [passages[c.passage - 1].chunk.title for c in best]
        meaning_features(q.text, best, first[top], self.embed, titles)
        p = self.model.second.predict_proba(matrix(best, SECOND_FEATURES))
        return sorted((Scored(c, float(x)) for c, x in zip(best, p)), key=lambda s: -s.p)

    def _compose(self, ranked: list[Scored]) -> list[Scored]:
        """The lead, then what the scorer says adds to it, of the same story, in 80 words."""
        lead = ranked[0]
        return self._fill([lead] + [s for s in ranked[1:]
                                    if s.p >= self.add_at_least and _same_story(s, lead)])

    def _story(self, ranked: list[Scored]) -> list[Scored]:
        """A story's course ("the latest on ..."): the best sentence of each article the scorer
        finds answering, newest first; the newest development leads."""
        best_of: dict[str, Scored] = {}
        for s in ranked:
            if s is ranked[0] or (s.p >= self.add_at_least and _same_story(s, ranked[0])):
                best_of.setdefault(s.candidate.article, s)
        return self._fill(sorted(best_of.values(),
                                 key=lambda s: (s.candidate.published or "")[:10], reverse=True))

    def _fill(self, candidates: list[Scored]) -> list[Scored]:
        """The candidates in order, up to `max_sentences` and about 80 words (a long first one
        stands alone), none repeating one already taken."""
        picked: list[Scored] = []
        n_words = 0
        for s in candidates:
            if len(picked) >= self.max_sentences:
                break
            if picked and n_words + len(s.text.split()) > MAX_WORDS:
                continue
            if any(_overlap(s.text, x.text) > 0.6 for x in picked):
                continue
            picked.append(s)
            n_words += len(s.text.split())
        return picked


def _same_story(s: Scored, lead: Scored) -> bool:
    """Of the lead's article, or of one whose headline shares a word of the question or a
    third of its words with the lead's: a bridge sentence does not pad a library answer."""
    if s.candidate.article == lead.candidate.article:
        return True
    return s.candidate.features["lexical_title"] > 0 or _overlap(
        s.candidate.title_text, lead.candidate.title_text) >= 0.34


def _overlap(a: str, b: str) -> float:
    wa, wb = set(content_words(a)), set(content_words(b))
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / min(len(wa), len(wb))


def _dated(text: str, published: str | None, as_of: date | None = None) -> str:
    """The article's date beside the sentence, "(20 November) ...": the date it was reported,
    which never contradicts the sentence's own time words ("on Wednesday")."""
    d = day_of(published)
    if d is None:
        return text
    year = "" if as_of is not None and d.year == as_of.year else f" {d.year}"
    return f"({d.day} {MONTHS[d.month - 1].capitalize()}{year}) {text}"
