"""The default answerer: reads what the question asks for, picks the retrieved sentences that
state it, leads with the fact, and cites each sentence.

Offline, nothing to download. It never writes a word that is not in a passage, except the date
of the article a sentence comes from ("On 20 November, ...") for questions about a story's course.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date

import numpy as np

from rag.answer_features import answer_like as _answer_like
from rag.answer_features import dateline_length as _dateline_length
from rag.answer_features import day_of as _day
from rag.answer_features import held as _held
from rag.answer_features import norm as _norm
from rag.answer_features import quoted_words as _quoted
from rag.answer_features import stems_of as _stems
from rag.answer_types import answer_strength, names_thing
from rag.answerers.base import NOT_COVERED
from rag.dates import DateRange, resolve
from rag.facts import MONTHS, names, numbers
from rag.question import Question, analyse, parts
from rag.text import STOPWORDS, content_words, sentence_spans, stem, words
from rag.types import Passage

# how the evidence is weighed (chosen on the demo questions and the RealTime QA dev set,
# docs/eval/README.md "The extractive answerer")
W_TERMS, W_CONTEXT, W_TITLE, W_MEANING, W_RANK, W_DENSE = 0.45, 0.15, 0.1, 0.5, 0.08, 0.1
W_KIND = 0.45  # how much of a sentence's score depends on holding an answer of the asked kind
# a sentence in an article's first LEAD_CHARS, for a story's course ("latest", "what happened"):
# 0.3 (was 0.15) makes the demo's "latest on the strike" open with the article's own lead, the
# 92% ridership, not its second sentence; one RealTime QA answer changed, neither right
W_LEAD, LEAD_CHARS = 0.3, 400
W_LEAD_ANY = 0.1  # the same for any other question (0.05-0.3 measured: 0.1 best on all 329)
EMBED_CANDIDATES = 16  # sentences compared in meaning with the question, per question
MEANING_CHARS = 120  # of each of them (the opening words)
MAX_WORDS = 80  # the lead sentence and what follows it; the "about 80 words"
ADD_FRACTION, ADD_LEX = 0.3, 0.0  # a further sentence: this close to the lead, this many terms
# for these kinds a further sentence must name a name or number the picked ones lack (155 of
# 329 RealTime QA answers, was 154): a second sentence restating the lead's fact only takes the
# room of one that may hold the answer the lead missed. Not "where": a place may be a web
# address or a lower-case one ("at sea"), which names and numbers miss
ADD_NEW_KINDS = ("which", "who", "when", "quantity")
FACT_FRACTION, FACT_LOOKAHEAD = 0.7, 6  # _fact_first
MAX_MISSING = 0.6  # of the question's weight, absent from every passage: not answered
# of the question's weight, absent from the lead sentence's own article: not answered ("How many
# passengers used Mallowport airport?" answered from a rail article's passengers a day). On
# RealTime QA the answers above 0.78 were all wrong (5); from 0.75 a right one is lost
MAX_MISSING_LEAD = 0.78
W_DATES = 0.45  # an article dated within the dates the question names ("this week"); 0.15, 0.3 measured
# an article dated over STALE_DAYS before those dates loses this much of its sentences' term
# share: "which prime minister stepped down this week?" is not answered by a 2021 resignation
# (158 of 329 RealTime QA, was 155; 0.15 gave 157, 0.45 158; 30, 180 or 365 days 157)
W_STALE, STALE_DAYS = 0.3, 60
W_SCENE = 0.5  # a term only of the statements that set the scene before the asking sentence
# a sentence with under NOVELTY_MIN of its words new to the question restates it (a penalty),
# unless it holds an answer of the asked kind (strength NOVELTY_KIND)
NOVELTY_MIN, NOVELTY_KIND = 0.25, 1.0
W_QUOTE = 0.3  # a sentence holding the words the question quotes
W_THING = 0.2  # a which-question's kind of thing, named: "Yosemite National Park"
# the question's own statement with the answer filled in: a sentence holding CLOZE_LEX of the
# question's weight and 1..CLOZE_NEW words it lacks holds the answer in them ("... nearly equal
# in value to the euro" for "... nearly equal to which currency in value?")
CLOZE_KINDS, CLOZE_LEX, CLOZE_NEW = ("which", "other"), 0.5, 3


@dataclass(frozen=True)
class Candidate:
    passage: int  # 1-based number
    text: str
    lexical: float  # share of the question's (rarity-weighted) terms the sentence holds
    score: float
    matched: int = 0  # question terms it holds
    kind: float = 0.0  # holds an answer of the asked kind (0..1)
    novelty: float = 1.0  # share of its words the question does not have
    published: str | None = None
    article: str = ""
    relevance: float = 0.0  # to the question's terms and meaning, before the answer's kind
    headed: int = 0  # question terms held by the sentence or its article's headline


def _score(relevance: float, kind: float, novelty: float) -> float:
    """Relevance, scaled by whether the sentence holds an answer of the asked kind; a sentence
    that only restates the question is not an answer."""
    score = relevance * (1 - W_KIND + W_KIND * kind)
    return score - 0.3 if novelty < NOVELTY_MIN and kind < NOVELTY_KIND else score


class ExtractiveAnswerer:
    name = "extractive"
    complete = None  # no model to rewrite a follow-up with: the rule-based rewrite

    def __init__(
        self,
        embed: Callable[[Sequence[str]], np.ndarray] | None = None,
        doc_freq: Callable[[Sequence[str]], dict[str, int]] | None = None,
        total_docs: Callable[[], int] | None = None,
        max_sentences: int = 3,
        min_score: float = 0.15,
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
        picked, dated = self.answer(question, passages, as_of)
        if not picked:
            yield NOT_COVERED
            return
        for i, c in enumerate(picked):
            text = (_dated(c.text, c.published, passages[c.passage - 1].chunk.text) if dated
                    else c.text)
            yield ("" if i == 0 else " ") + f"{text} [{c.passage}]"

    # ------------------------------------------------------------------ the answer
    def answer(self, question: str, passages: Sequence[Passage],
               as_of: date | None = None) -> tuple[list[Candidate], bool]:
        """The sentences that answer, in reading order, and whether to date them."""
        q = analyse(question)
        pieces = parts(question)
        if len(pieces) > 1:
            picked: list[Candidate] = []
            for piece in pieces:
                for c in self.select(piece, passages, limit=1, as_of=as_of):
                    if all(c.text != p.text for p in picked):
                        picked.append(c)
            if picked:
                return picked, False
        picked = self.select(question, passages, as_of=as_of)
        if q.story and picked:
            return _story_order(picked), True
        return picked, False

    def weights(self, terms: Sequence[str], q: Question | None = None) -> dict[str, float]:
        """IDF-like weights: rare words (names, numbers) count for more than common ones; the
        words of a scene-setting statement before the asking sentence count for less."""
        if not self.doc_freq or not self.total_docs:
            out = {t: 1.0 for t in terms}
        else:
            n = max(self.total_docs(), 1)
            df = self.doc_freq(terms)
            out = {t: math.log(1 + n / (1 + df.get(t, 0))) for t in terms}
        if q is not None and q.context:
            out = {t: v * (W_SCENE if t in q.context else 1.0) for t, v in out.items()}
        return out

    def select(self, question: str, passages: Sequence[Passage], limit: int | None = None,
               as_of: date | None = None) -> list[Candidate]:
        q = analyse(question)
        cands = self.candidates(q, passages, as_of)
        if not cands:
            return []
        cands = self._by_meaning(question, cands)
        if not self._answers(q, cands[0], passages, cands):
            return []
        cands = _fact_first(cands)
        best = cands[0]
        own = _of_article(passages, best)
        if q.kind != "acronym" and self.missing_share(q, own) > MAX_MISSING_LEAD:
            return []  # the lead's own article is about something else
        if (deed := _deed(question)) and not self._tells_deed(deed, q, best, own, cands):
            return []
        limit = limit or self.max_sentences
        if q.story:
            return self._story(cands, limit)
        picked = [best]
        n_words = len(best.text.split())
        seen = _answer_units(best.text)
        for c in cands[1:]:
            if len(picked) >= limit:
                break
            if c.score < ADD_FRACTION * best.score or c.lexical < ADD_LEX:
                continue
            if q.kind in ADD_NEW_KINDS and not _answer_units(c.text) - seen:
                continue
            if n_words + len(c.text.split()) > MAX_WORDS:
                continue
            if any(_overlap(c.text, p.text) > 0.6 for p in picked):
                continue
            picked.append(c)
            n_words += len(c.text.split())
            seen |= _answer_units(c.text)
        return picked

    def _tells_deed(self, deed: str, q: Question, best: Candidate, own: Sequence[Passage],
                    cands: Sequence[Candidate]) -> bool:
        """The lead's article tells the deed (or thing) the question asks about: passages that
        never say joined do not answer "Who joined Saltmarsh on stage?" (1 RealTime QA answer
        withdrawn, a wrong one; none lost). Nor, when the lead does not say it either, an
        article whose sentences that say it name no one: "... since it was founded in 1986"
        for "Who founded the Port Safety League?"."""
        if not _tells(deed, [p.chunk.text + " " + p.chunk.title for p in own]):
            return False
        if q.kind != "who" or _tells(deed, [best.text]):
            return True
        tellers = [c for c in cands if c.article == best.article and _tells(deed, [c.text])]
        return not tellers or any(c.kind >= 1.0 for c in tellers)

    def _story(self, cands: list[Candidate], limit: int) -> list[Candidate]:
        """A story's course: the best sentence of each relevant article, newest first (the
        answerer then dates each one)."""
        best_of: dict[str, Candidate] = {}
        for c in cands:
            best_of.setdefault(c.article, c)
        top = cands[0]
        relevant = [c for c in best_of.values()
                    if c is top or (c.score >= 0.6 * top.score and c.lexical >= 0.2)]
        relevant.sort(key=lambda c: (c.published or "")[:10], reverse=True)
        picked: list[Candidate] = []
        n_words = 0
        for c in relevant:
            if len(picked) >= limit:
                break
            if picked and n_words + len(c.text.split()) > MAX_WORDS:
                continue
            if any(_overlap(c.text, p.text) > 0.6 for p in picked):
                continue
            picked.append(c)
            n_words += len(c.text.split())
        return picked

    def candidates(self, q: Question, passages: Sequence[Passage],
                   as_of: date | None = None) -> list[Candidate]:
        """Every answer-like sentence of the passages, scored on the question's terms and on
        holding an answer of the asked kind; sorted best first. An article dated within the
        dates the question names ("last week") matches one term more."""
        terms = list(q.terms)
        if not terms or not passages:
            return []
        span = resolve(q.text, as_of) if as_of else None
        when = span if span and span.phrase not in ("", "latest") else None
        w = self.weights(terms, q)
        stemmed: dict[str, float] = {}
        for t in terms:
            stemmed[_norm(t)] = max(stemmed.get(_norm(t), 0.0), w[t])
        total = sum(stemmed.values())
        q_stems = set(stemmed) | {stem(x) for x in words(q.text)}
        quotes = _quoted(q.text)
        out: list[Candidate] = []
        seen: set[str] = set()
        for n, p in enumerate(passages, start=1):
            text = p.chunk.text
            title_stems = _stems(words(p.chunk.title))
            in_title = {k for k in stemmed if _held(k, title_stems)}
            title_lex = sum(stemmed[k] for k in in_title) / total
            dense = p.scores.get("dense") or 0.0
            in_dates = when is not None and _within(p.chunk.published, when)
            stale = when is not None and _stale(p.chunk.published, when)
            prev_lex = 0.0
            for a, b in sentence_spans(text):
                a += _dateline_length(text[a:b])
                s = text[a:b]
                toks = words(s)
                have = _stems(toks)
                hits = [k for k in stemmed if _held(k, have)]
                lex = sum(stemmed[k] for k in hits) / total
                context, prev_lex = prev_lex, lex
                own_lex = lex  # the sentence's own words, before the article's dates
                if in_dates:
                    hits.append("<dates>")
                    lex = min(1.0, lex + W_DATES)
                elif stale:
                    lex = max(0.0, lex - W_STALE)
                key = " ".join(toks)
                if not _answer_like(s, toks, p.chunk.title) or key in seen:
                    continue
                seen.add(key)
                own = [x for x in content_words(s)]
                fresh = sum(stem(x) not in q_stems for x in own)
                novelty = fresh / max(len(own), 1)
                kind = answer_strength(q, s)
                if (q.kind in CLOZE_KINDS and own_lex >= CLOZE_LEX and 0 < fresh <= CLOZE_NEW):
                    kind = max(kind, 1.0)
                rel = (W_TERMS * lex + W_CONTEXT * context + W_TITLE * title_lex
                       + W_RANK / n + W_DENSE * dense)
                if quotes and any(x in key for x in quotes):
                    rel += W_QUOTE  # the words the question quotes: who said them, of what
                if q.kind == "which" and names_thing(q, s):
                    rel += W_THING  # "Lyme disease" for "... prevent which disease?"
                if p.chunk.start + a < LEAD_CHARS:
                    # the news is in an article's first sentences (a story's course: more so)
                    rel += (W_LEAD if q.story else W_LEAD_ANY) * (1 - (p.chunk.start + a)
                                                                    / LEAD_CHARS)
                out.append(Candidate(n, s, lex, _score(rel, kind, novelty), len(hits), kind,
                                     novelty, p.chunk.published, p.chunk.article_id, rel,
                                     len(in_title | set(hits))))
        out.sort(key=lambda c: -c.score)
        return out

    def _by_meaning(self, question: str, cands: list[Candidate]) -> list[Candidate]:
        """Adds the sentences' closeness in meaning to the question (the embedder), for the
        best candidates by terms only: the answer-time budget."""
        if self.embed is None:
            return cands
        head, tail = cands[:EMBED_CANDIDATES], cands[EMBED_CANDIDATES:]
        vecs = self.embed([question] + [_meaning_text(c.text) for c in head])
        sims = vecs[1:] @ vecs[0]
        head = [replace(c, relevance=c.relevance + W_MEANING * float(s),
                        score=_score(c.relevance + W_MEANING * float(s), c.kind, c.novelty))
                for c, s in zip(head, sims)]
        head.sort(key=lambda c: -c.score)
        return head + tail

    def _answers(self, q: Question, best: Candidate, passages: Sequence[Passage],
                 cands: Sequence[Candidate] = ()) -> bool:
        """The relevance gate: enough of the question's weight, in a passage close in meaning,
        and not too much of the question missing from every passage ("How much will the
        Orrin Valley *motorway* cost?" when only a tunnel is in the news).

        A sentence holding an answer of the asked kind may lean on its own passage: "Who
        designed the library at the Tessany Quay glassworks?" is answered by "Architect Ilse
        Marbeck won the design contest..." (one question word) because the sentence before it
        in the same passage ("The derelict glassworks at Tessany Quay will become the town's
        new central library") passes the gate by itself."""
        if q.kind == "acronym" and best.kind >= 1.0:
            return True  # the passage spells the letters out
        dense = [x.scores.get("dense") for x in passages]
        closeness = (min(1.0, max(d or 0.0 for d in dense) / 0.5)
                     if any(d is not None for d in dense) else 1.0)

        def relevant(c: Candidate) -> bool:
            enough_terms = c.matched >= 2 or (c.lexical >= 0.4 and closeness >= 0.8)
            return c.lexical * closeness >= self.min_score and enough_terms

        def headed(c: Candidate) -> bool:
            """An answer of the asked kind under a headline that names what is asked about:
            "The strike lasted 12 days." in "Mallowport dockers back new contract as port
            reopens after strike", for "How long did the Mallowport dockers' strike last?"."""
            return (c.kind >= 1.0 and c.matched >= 1 and c.headed >= 3
                    and c.lexical * closeness >= self.min_score * 0.5)

        if not relevant(best) and not headed(best) and not (best.kind >= 1.0 and any(
                c.passage == best.passage and c is not best and relevant(c) for c in cands)):
            return False
        return self.missing_share(q, passages) <= MAX_MISSING

    def missing_share(self, q: Question, passages: Sequence[Passage]) -> float:
        """The rarity-weighted share of the question's words that no given passage (nor its
        headline) holds; 1.0 when one of them is a word the index holds nowhere at all: the
        news cannot answer a question about a thing it never mentions."""
        terms = [t for t in q.terms if not t.isdigit()]
        if not terms:
            return 0.0
        w = self.weights(terms, q)
        have = _stems(words(" ".join(p.chunk.text + " " + p.chunk.title for p in passages)))
        by_stem: dict[str, float] = {}
        for t in terms:
            k = _norm(t)
            by_stem[k] = max(by_stem.get(k, 0.0), w[t])
        missing = [k for k in by_stem if not _held(k, have)]
        if self.doc_freq and any(len(k) >= 4 for k in missing):
            absent = [t for t in terms if _norm(t) in missing and len(t) >= 4]
            df = self.doc_freq([v for t in absent for v in _spellings(t)])
            if any(all(df.get(v, 0) == 0 for v in _spellings(t)) for t in absent):
                return 1.0
        return sum(by_stem[k] for k in missing) / (sum(by_stem.values()) or 1.0)


_WHO_DID = re.compile(r"^\s*who\s+(?:(?:is|was|were|are|has|have|had|will|would)\s+(?:been\s+)?)?"
                      r"([a-z]{4,})\b", re.IGNORECASE)


_PRICED = re.compile(r"\bhow much (?:does|did|do|will|would|could|is|was|are|were)\s+"
                     r"(?:a |an |the |its |their )?(.+?)\s+(?:cost|be worth|sell for)\b",
                     re.IGNORECASE)
_PREPOSITION = re.compile(r"\s+(?:for|of|to|in|on|at|from|with|by)\s+.*$", re.IGNORECASE)


def _deed(question: str) -> str | None:
    """The word a question asks about beyond its subject: the deed of "Who joined Saltmarsh on
    stage?", the thing priced by "How much does a season pass for the ferry cost?" (pass)."""
    if m := _WHO_DID.match(question):
        word = m.group(1)
    elif m := _PRICED.search(question):
        word = _PREPOSITION.sub("", m.group(1)).split()[-1]
    else:
        return None
    return None if word.lower() in STOPWORDS else _norm(word.lower())


def _tells(key: str, texts: Sequence[str]) -> bool:
    """A word (its stem) is in the texts; one of five letters or more also as the start of a
    word ("found" in "founder")."""
    have = _stems(words(" ".join(texts)))
    return key in have or (len(key) >= 5 and any(w.startswith(key) for w in have))


def _of_article(passages: Sequence[Passage], c: Candidate) -> list[Passage]:
    """The given passages of the article a candidate comes from."""
    article = passages[c.passage - 1].chunk.article_id
    return [p for p in passages if p.chunk.article_id == article]


def _answer_units(text: str) -> set[str]:
    """The names and number values of a sentence: what an answer of a named or counted kind is
    made of."""
    return set(names(text)) | {value for value, _ in numbers(text)}


def _fact_first(cands: list[Candidate]) -> list[Candidate]:
    """Lead with the fact: when the most relevant sentence holds no answer of the asked kind and
    a nearly as relevant one (FACT_FRACTION of its score, a question word shared) does, that
    one leads ("Construction is expected to cost 2.3 billion euros." before the vote)."""
    best = cands[0]
    if best.kind >= 1.0:
        return cands
    for i, c in enumerate(cands[1:FACT_LOOKAHEAD], start=1):
        if c.kind >= 1.0 and c.matched >= 1 and c.score >= FACT_FRACTION * best.score:
            return [c] + cands[:i] + cands[i + 1:]
    return cands


def _meaning_text(sentence: str) -> str:
    """The part of a sentence compared in meaning with the question: its opening words, cut
    at a word boundary (the model's time grows with the tokens, and the gist comes first)."""
    if len(sentence) <= MEANING_CHARS:
        return sentence
    return sentence[:MEANING_CHARS].rsplit(" ", 1)[0]


_SPELLINGS = ((r"is(e|es|ed|ing|ation|ations)$", r"iz\1"), (r"iz(e|es|ed|ing|ation|ations)$", r"is\1"),
              (r"ys(e|es|ed|ing)$", r"yz\1"), (r"yz(e|es|ed|ing)$", r"ys\1"),
              (r"our(s|ed|ing|ite|ites)?$", r"or\1"), (r"tre(s)?$", r"ter\1"),
              (r"ence$", r"ense"), (r"ogue(s)?$", r"og\1"))


def _spellings(word: str) -> list[str]:
    """A word and its other English spellings ("authorise", "authorize"): a word the index
    never holds under any of them is a thing the news does not mention."""
    out = [word]
    for pattern, repl in _SPELLINGS:
        other = re.sub(pattern, repl, word)
        if other != word and other not in out:
            out.append(other)
    return out


def _stale(published: str | None, span: DateRange) -> bool:
    """An article dated over STALE_DAYS before the dates the question names."""
    day = _day(published)
    return day is not None and span.since is not None and (span.since - day).days > STALE_DAYS


def _within(published: str | None, span: DateRange) -> bool:
    day = (published or "")[:10]
    if not day:
        return False
    return ((span.since is None or day >= span.since.isoformat())
            and (span.until is None or day <= span.until.isoformat()))


def _story_order(picked: list[Candidate]) -> list[Candidate]:
    """Newest article first; sentences of one article keep their order of relevance."""
    return sorted(picked, key=lambda c: (c.published or "")[:10], reverse=True)


def _dated(text: str, published: str | None, passage: str = "") -> str:
    """'On 20 November, ' + the sentence, when its article's date is known. Its first word is
    lower-cased when it is a common word: one of the usual openers, or one its passage
    capitalises only where a sentence starts ("Ridership on ...", not "Marsh said" where the
    passage also writes "chair Evelyn Marsh")."""
    d = _day(published)
    if d is None:
        return text
    first = text.split(" ", 1)[0]
    if re.fullmatch(r"(The|A|An|It|Its|This|That|These|Those|There|They|Their|In|On|At|By|"
                    r"After|Before|Since|More|Most|Some|About|Nearly|Almost|Only|All|But|And|Yet|So|"
                    r"Also|However,?|Meanwhile,?|Still,?|Now,?|Then,?|When|While|As|If|He|She|"
                    r"We|You|Both|Many|Several|Such|Each|Every|Under|With|Without|For|From|"
                    r"During|Over|Despite|Earlier|Later)", first) or _common_opener(text, passage):
        text = text[0].lower() + text[1:]
    return f"On {d.day} {MONTHS[d.month - 1].capitalize()}, {text}"


def _common_opener(sentence: str, passage: str) -> bool:
    """The sentence's first word is a common word written with a capital for opening it: a
    capitalised word followed by a lower-case one, which its passage never capitalises
    inside a sentence (a name would be: "... said board chair Evelyn Marsh")."""
    m = re.match(r"([A-Z][a-z]+)\s+[a-z]", sentence)
    if not m or not passage:
        return False
    for hit in re.finditer(rf"\b{m.group(1)}\b", passage):
        before = passage[:hit.start()].rstrip(" \t\"“‘'(")
        if before and not before.endswith((".", "!", "?", "\n", ":")):
            return False
    return True


def _overlap(a: str, b: str) -> float:
    wa, wb = set(content_words(a)), set(content_words(b))
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / min(len(wa), len(wb))
