"""NewsRAG: the one entry point: retrieve, answer, check citations, stream."""
from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from rag.answerers.base import NOT_COVERED, Answerer
from rag.citations import CitationChecker, SupportScorer, render, split_complete
from rag.condense import is_follow_up, standalone_query
from rag.dates import DateRange, parse_date, resolve
from rag.errors import ConfigError, EmptyIndexError, InvalidQuestionError, UnknownSourceError
from rag.filters import Filters
from rag.index import Index
from rag.question import NEXT, parts
from rag.registry import Tools, make
from rag.retrieve import Mode, Retriever, make_filters
from rag.settings import Settings
from rag.types import HISTORY_TURNS_READ, Answer, AnswerSentence, Passage, answer_to_dict
from rag.vector_cache import VectorCache


@dataclass(frozen=True)
class Query:
    """A question as the pipeline reads it, built and validated once by `NewsRAG.query`."""
    question: str  # the reader's words, visible characters only, spaces collapsed
    history: tuple[tuple[str, str], ...]  # earlier (question, answer) turns
    standalone: str  # the question made standalone with the conversation's subject
    dates: DateRange  # the dates it names or the filters give
    filters: Filters  # what the reader restricts to (outlets, since, until)
    prefer: Filters | None  # dates read from the question: a preference, not a filter
    as_of: date


class NewsRAG:
    def __init__(self, index: Index, answerer: Answerer | None = None):
        self.index = index
        self.settings: Settings = index.settings
        # vectors are remembered between questions (the question, the answerer's sentences)
        self.sentence_vectors = VectorCache(lambda texts: self.index.embedder.embed_batch(texts))
        self.retriever = Retriever(index, reranker=_reranker(self.settings),
                                   embed=self.sentence_vectors)
        self.answerer = answerer or self.make_answerer(self.settings.answerer)
        _check_answerer(self.answerer)
        self.checker = CitationChecker(SupportScorer(threshold=self.settings.support_threshold),
                                       keep_uncited=(NOT_COVERED,))

    @classmethod
    def open(cls, settings: Settings) -> NewsRAG:
        return cls(Index.open(settings))

    def tools(self) -> Tools:
        """What the parts may use of this index: its cached embedder and the lexical counts."""
        return Tools(embed=self.sentence_vectors,
                     doc_freq=lambda terms: self.index.bm25.doc_freq(terms),
                     total_docs=self._chunks)

    def make_answerer(self, name: str) -> Answerer:
        return make("answerer", name, self.settings, self.tools())

    def _chunks(self) -> int:
        bm25 = self.index.bm25
        bm25.refresh()
        return bm25.alive_count

    def close(self) -> None:
        self.index.close()

    def stats(self) -> dict[str, Any]:
        return self.index.stats()

    # --- retrieval -----------------------------------------------------------------------
    def query(self, question: str, *, history: Sequence[tuple[str, str]] = (),
              sources: Sequence[str] | None = None, since: str | date | None = None,
              until: str | date | None = None, as_of: str | date | None = None) -> Query:
        """The reader's question and filters, checked and resolved once (the edge)."""
        return self._prepare(question, history, sources, since, until, as_of)

    def _prepare(self, question: str, history, sources, since, until, as_of) -> Query:
        if isinstance(question, str):
            question = " ".join(_visible(question).split())
        if not isinstance(question, str) or not question or not any(ch.isalnum() for ch in question):
            raise InvalidQuestionError("The question is empty: ask something about the news.")
        if len(question) > self.settings.max_question_chars:
            raise InvalidQuestionError(
                f"The question is {len(question)} characters long; the limit is "
                f"{self.settings.max_question_chars}."
            )
        as_of_d = parse_date(as_of, "as-of date") or datetime.now(UTC).date()
        since_d, until_d = parse_date(since, "since date"), parse_date(until, "until date")
        if since_d and until_d and since_d > until_d:
            raise InvalidQuestionError(f"'since' {since_d} is after 'until' {until_d}.")
        history = [(str(u), str(a)) for u, a in (history or [])][-HISTORY_TURNS_READ:]
        self._check_sources(sources)
        query = standalone_query(question, history, self.answerer.complete)
        dates, filters, prefer = _dates_of(question, sources, since_d, until_d, as_of_d)
        return Query(question, tuple(history), query, dates, filters, prefer, as_of_d)

    def _check_sources(self, sources: Sequence[str] | None) -> None:
        """A filter naming an outlet the index does not hold is a mistake to report, not a
        silent abstention."""
        wanted = [s for s in (sources or ()) if s]
        if not wanted:
            return
        known = [name for name, _ in self.index.catalog.sources()]
        unknown = [s for s in wanted if s not in known]
        if unknown:
            shown = ", ".join(known[:30]) + (" ..." if len(known) > 30 else "")
            raise UnknownSourceError(
                f"No indexed outlet is named {', '.join(map(repr, unknown))}. "
                f"Outlets in the index: {shown or 'none'}.")

    def retrieve(
        self,
        question: str,
        *,
        k: int | None = None,
        history: Sequence[tuple[str, str]] = (),
        sources: Sequence[str] | None = None,
        since: str | date | None = None,
        until: str | date | None = None,
        as_of: str | date | None = None,
        mode: Mode = "hybrid",
        per_article_cap: int | None = None,
    ) -> list[Passage]:
        q = self._prepare(question, history, sources, since, until, as_of)
        return self._retrieve(q, k=k, mode=mode, per_article_cap=per_article_cap).passages

    def _retrieve(self, q: Query, *, k=None, mode: Mode = "hybrid", per_article_cap=None):
        """The passages for the question; a question in two parts ("how long did the strike
        last, and what does the ferry ticket cost?") retrieves for each part and takes their
        passages in turn, so that each part finds the article that answers it."""
        k = k or self.settings.top_k
        self.index.follow()  # an ingest in another process may have committed since

        def run(one: Query):
            return self.retriever.retrieve(
                one.standalone, k=k, filters=one.filters, dates=one.dates, as_of=one.as_of,
                mode=mode, per_article_cap=per_article_cap or self.settings.per_article_cap,
                prefer=one.prefer)

        pieces = parts(q.standalone)
        if len(pieces) < 2:
            return run(q)
        results = [run(_part(q, piece)) for piece in pieces]
        merged: dict[str, Passage] = {}
        for rank in range(k):
            for r in results:
                if rank < len(r.passages) and len(merged) < k:
                    merged.setdefault(r.passages[rank].chunk.id, r.passages[rank])
        timings: dict[str, float] = {}
        for r in results:
            for name, t in r.timings.items():
                timings[name] = timings.get(name, 0.0) + t
        return replace(results[0], passages=list(merged.values()), timings=timings)

    # --- answers -------------------------------------------------------------------------
    def ask(self, question: str, **kw: Any) -> Answer:
        answer = None
        for event in self._events(question, **kw):
            if event["event"] == "answer":
                answer = event["answer"]
        assert answer is not None
        return answer

    def ask_stream(self, question: str, **kw: Any) -> Iterator[dict]:
        """Server-sent-event-shaped dicts: 'passages', 'delta' (verified text), then 'answer'."""
        for event in self._events(question, **kw):
            if event["event"] == "answer":
                yield {"event": "answer", "data": answer_to_dict(event["answer"])}
            else:
                yield event

    def _events(
        self,
        question: str,
        *,
        history: Sequence[tuple[str, str]] = (),
        sources: Sequence[str] | None = None,
        since: str | date | None = None,
        until: str | date | None = None,
        as_of: str | date | None = None,
        answerer: str | None = None,
        mode: Mode = "hybrid",
    ) -> Iterator[dict]:
        t_start = time.perf_counter()
        q = self._prepare(question, history, sources, since, until, as_of)
        question, query, dates, as_of_d = q.question, q.standalone, q.dates, q.as_of
        if self._chunks() == 0 and self.index.catalog.counts()["chunks"] == 0:
            raise EmptyIndexError(
                "Nothing is indexed yet: run `newsrag ingest PATH` (or `make run`, which "
                "ingests the demo corpus) first."
            )
        result = self._retrieve(q, mode=mode)
        timings = dict(result.timings)
        timings["retrieve"] = time.perf_counter() - t_start
        passages = result.passages
        yield {"event": "passages", "count": len(passages), "query": query,
               "dates": dates.describe()}
        gen = self.answerer if answerer is None else self.make_answerer(answerer)
        t0 = time.perf_counter()
        sentences: list[AnswerSentence] = []
        withdrawn: list[AnswerSentence] = []
        citations: dict[int, Any] = {}
        if passages:
            passages = yield from self._stream_answer(gen, q, passages, sentences, citations,
                                                      withdrawn)
        timings["answer"] = time.perf_counter() - t0
        abstained = not any(s.supported and s.citations for s in sentences)
        if abstained:
            sentences = [AnswerSentence(NOT_COVERED, (), 0.0, supported=True)]
            citations = {}
            yield {"event": "reset", "text": NOT_COVERED}
        timings["total"] = time.perf_counter() - t_start

        yield {"event": "answer", "answer": Answer(
            question=question, text=render(sentences), citations=tuple(
                citations[k] for k in sorted(citations)), sentences=tuple(sentences),
            passages=tuple(passages), abstained=abstained, query=query,
            as_of=as_of_d.isoformat(), timings=timings, withdrawn=tuple(withdrawn))}

    def _stream_answer(self, gen: Answerer, q: Query, passages: list[Passage],
                       sentences: list[AnswerSentence], citations: dict[int, Any],
                       withdrawn: list[AnswerSentence]):
        """The answerer's pieces, verified and emitted a sentence at a time as each completes
        (another one has begun); returns the passages it read."""
        question = q.question
        # the answerer reads the reader's own words (and the history); a follow-up with few
        # words of its own is read with the subject carried over from the last turn
        asked = q.standalone if q.standalone != question and is_follow_up(question) else question
        if q.dates.phrase != "filter" and q.history and is_follow_up(question):
            passages = self._after_previous(question, passages, q.history, q.as_of)
        renumber: dict[int, int] = {}
        pending = ""
        for piece in gen.stream(asked, passages, as_of=q.as_of, history=q.history):
            pending += piece
            done, pending = split_complete(pending)
            if done:
                yield from self._verify(done, passages, renumber, sentences, citations,
                                        withdrawn)
        if pending.strip():
            yield from self._verify(pending, passages, renumber, sentences, citations, withdrawn)
        return passages

    def _after_previous(self, question: str, passages: list[Passage],
                        history: Sequence[tuple[str, str]], as_of: date) -> list[Passage]:
        """For "what happened next / since then": the passages of articles newer than the one
        the previous turn was about (all of them when none is newer)."""
        if not NEXT.search(question):
            return passages
        # the previous turn's story: the article its answer came from (question and answer)
        asked, replied = history[-1]
        said = re.sub(r"\[\d+\]", " ", replied) if NOT_COVERED not in replied else ""
        previous = self.retriever.retrieve(
            f"{asked} {said}"[:2000], k=3, filters=make_filters(None, None, None),
            dates=resolve(asked, as_of), as_of=as_of).passages
        ref = (previous[0].chunk.published or "")[:10] if previous else ""
        if not ref:
            return passages
        later = [p for p in passages if (p.chunk.published or "")[:10] > ref]
        return later or passages

    def _verify(self, text, passages, renumber, sentences, citations, withdrawn
                ) -> Iterator[dict]:
        checked = self.checker.check(text, passages, renumber)
        for c in checked.citations:
            citations[c.number] = c
        for s in checked.withdrawn:
            withdrawn.append(s)
            yield {"event": "withdrawn", "text": s.text, "reasons": list(s.reasons)}
        for s in checked.sentences:
            if s.text == NOT_COVERED:
                continue
            sentences.append(s)
            yield {"event": "delta", "text": ("" if len(sentences) == 1 else " ") + render([s])}


def _dates_of(question: str, sources, since: date | None, until: date | None,
              as_of: date) -> tuple[DateRange, Filters, Filters | None]:
    """The dates a question asks about, the filters it is held to, and the dates it prefers.
    Explicit filters win over dates read from the question; those are a preference, not a
    filter: the words may date the event rather than the article ("in June", "this week")."""
    dates = resolve(question, as_of)
    if since or until:
        return (DateRange(since, until, dates.latest, "filter"),
                make_filters(sources, since, until), None)
    prefer = None
    if dates.phrase not in ("", "latest") and (dates.since or dates.until):
        prefer = make_filters(sources, dates.since, dates.until)
    return dates, make_filters(sources, None, None), prefer


def _part(q: Query, piece: str) -> Query:
    """One part of a two-part question, with the dates of its own words."""
    if q.dates.phrase == "filter":
        return replace(q, standalone=piece)
    dates, filters, prefer = _dates_of(piece, q.filters.sources, None, None, q.as_of)
    return replace(q, standalone=piece, dates=dates, filters=filters, prefer=prefer)


def _visible(text: str) -> str:
    """Without zero-width and other format characters (a question of only those is empty)."""
    return "".join(ch for ch in text if unicodedata.category(ch) not in ("Cf", "Cc", "Cs")
                   or ch in "\n\t")


def _check_answerer(answerer) -> None:
    """An answerer handed in must speak the protocol (rag/answerers/base.py): said once, here,
    rather than as an AttributeError on every question."""
    missing = [a for a in ("name", "stream", "complete") if not hasattr(answerer, a)]
    if missing:
        raise ConfigError(f"The answerer {type(answerer).__name__} lacks {', '.join(missing)} "
                          "(see rag/answerers/base.py: set complete = None when it has no "
                          "model to rewrite follow-ups with)")


def _reranker(settings: Settings):
    """The cross-encoder when a reranker model is set; none by default."""
    return make("reranker", "cross-encoder", settings) if settings.reranker_model else None
