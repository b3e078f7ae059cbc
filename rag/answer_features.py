"""What the answer scorer reads of each candidate sentence: plain numbers about (question,
sentence, passage), named in one list.

Two stages. `candidates` turns the given passages into answer-like sentences with the cheap
features (FIRST_FEATURES: the question's terms in the sentence, its neighbours, its headline
and article; the asked kind of answer; position, rank, dates). The first-stage model ranks
them; the best MEANING_CANDIDATES are then compared in meaning with the question by the
packaged embedder, and `meaning_features` adds SECOND_FEATURES for the second-stage model.
The same functions build the training rows (eval/train_answerer.py) and score at answer time.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from rag.answer_types import answer_strength, names_thing
from rag.dates import DateRange, resolve
from rag.facts import names, numbers
from rag.question import KINDS, Question, quoted
from rag.text import content_words, looks_like_instruction, sentence_spans, stem, words
from rag.types import Passage

MEANING_CANDIDATES = 16  # sentences compared in meaning with the question (the time budget)
MEANING_CHARS = 160  # of each of them: the opening words (the model's time grows with tokens)
LEAD_CHARS = 400  # an article's opening: where news puts the fact

FIRST_FEATURES: tuple[str, ...] = (
    "lexical", "matched", "matched_share", "lexical_prev", "lexical_next", "lexical_title",
    "lexical_passage", "lexical_article", "missing_all", "kind_strength", "names_thing",
    "novelty", "fresh_words", "new_names", "new_numbers", "has_number", "quote", "cloze",
    "offset_log", "lead", "sentence_index", "words", "rank", "in_dates", "stale",
    "age_log", "newest", "question_terms", "story", "lexical_gap", "lexical_rank",
    "relevance", "relevance_gap",
) + tuple(f"kind_{k}" for k in KINDS)
SECOND_FEATURES: tuple[str, ...] = FIRST_FEATURES + (
    "first_score", "first_rank", "meaning", "meaning_gap", "meaning_rank", "meaning_title",
)


@dataclass(frozen=True)
class Candidate:
    """An answer-like sentence of a given passage, with its features."""
    passage: int  # 1-based number of its passage
    text: str
    article: str
    published: str | None
    offset: int  # its first character in the article's text
    features: dict[str, float]
    title_text: str = ""  # its article's headline


def plain(text: str) -> str:
    """A question with curly apostrophes straightened and contractions spelled out: "What’s"
    and "isn't" read as "What is" and "is not"."""
    text = text.replace("’", "'").replace("‘", "'")
    text = re.sub(r"\b(can)'t\b", r"\1 not", text, flags=re.IGNORECASE)
    text = re.sub(r"\bwon't\b", "will not", text, flags=re.IGNORECASE)
    text = re.sub(r"n't\b", " not", text, flags=re.IGNORECASE)
    text = re.sub(r"\b(what|who|where|when|how|why|which|that|there|it|he|she)'s\b", r"\1 is",
                  text, flags=re.IGNORECASE)
    text = re.sub(r"'re\b", " are", text, flags=re.IGNORECASE)
    text = re.sub(r"'ve\b", " have", text, flags=re.IGNORECASE)
    text = re.sub(r"'ll\b", " will", text, flags=re.IGNORECASE)
    return re.sub(r"\b(who|what|where|how|why)'d\b", r"\1 did", text, flags=re.IGNORECASE)


# ------------------------------------------------------------------ words and weights

def norm(word: str) -> str:
    """A word's stem for matching: no possessive, -ize read as -ise ("authorize")."""
    word = re.sub(r"['’]s$", "", word)
    return stem(re.sub(r"iz(e|es|ed|ing|ation)$", r"is\1", word))


def stems_of(toks: Sequence[str]) -> set[str]:
    """Stems of the words, possessives dropped, hyphenated words also read in parts."""
    out = set()
    for x in toks:
        out.add(norm(x))
        if "-" in x:
            out.update(norm(y) for y in x.split("-") if y)
    return out


def held(key: str, have: set[str]) -> bool:
    """A question word is in a text: "first-year" also when "first" and "year" are."""
    return key in have or ("-" in key and all(norm(y) in have for y in key.split("-") if y))


def term_weights(q: Question, doc_freq: Callable[[Sequence[str]], dict[str, int]] | None,
                 total_docs: int) -> dict[str, float]:
    """The question's term stems weighed by rarity (names and numbers count for more)."""
    terms = list(q.terms)
    if doc_freq is None or total_docs <= 0:
        w = {t: 1.0 for t in terms}
    else:
        df = doc_freq(terms)
        w = {t: math.log(1 + total_docs / (1 + df.get(t, 0))) for t in terms}
    out: dict[str, float] = {}
    for t in terms:
        k = norm(t)
        out[k] = max(out.get(k, 0.0), w[t] * (0.5 if t in q.context else 1.0))
    return out


def share(weights: dict[str, float], have: set[str]) -> tuple[float, int]:
    """(the weighted share of the question's terms held, how many are held)."""
    total = sum(weights.values()) or 1.0
    hits = [k for k in weights if held(k, have)]
    return sum(weights[k] for k in hits) / total, len(hits)


# ------------------------------------------------------------------ sentences

_DATELINE = re.compile(r"^[A-Z][A-Z .,'’\-]+,\s+\w{3,9}\.?\s+\d{1,2}\s+\([^)]{2,40}\)\s+[—–-]+\s+")


def answer_like(sentence: str, toks: list[str], title: str) -> bool:
    """A sentence a reader can be given: not a question, an instruction to a model, the
    headline or a menu line."""
    if len(toks) < 5 or sentence.rstrip().endswith(("?", ":")) or looks_like_instruction(sentence):
        return False
    if title and toks == words(title):
        return False
    ends = sentence.rstrip().endswith((".", "!", "”", '"', "’", "'", ")", "…"))
    return ends or (len(toks) >= 12 and "\n" not in sentence.strip())


def dateline_length(sentence: str) -> int:
    """'PORT CALDER, Nov 3 (Northern Wire) — ' opening a wire story: not part of the answer."""
    m = _DATELINE.match(sentence)
    return m.end() if m else 0


def day_of(published: str | None) -> date | None:
    try:
        return date.fromisoformat((published or "")[:10])
    except ValueError:
        return None


def quoted_words(question: str) -> list[str]:
    return [" ".join(ws) for x in quoted(question) if len(ws := words(x)) >= 3]


def _units(text: str) -> tuple[set[str], set[str]]:
    return set(names(text)), {v for v, _ in numbers(text)}


# ------------------------------------------------------------------ the first stage

def candidates(q: Question, passages: Sequence[Passage], weights: dict[str, float],
               as_of: date | None) -> list[Candidate]:
    """Every answer-like sentence of the passages (once), with its first-stage features."""
    if not passages or not weights:
        return []
    span = resolve(q.text, as_of) if as_of else None
    when = span if span and span.phrase not in ("", "latest") else None
    q_stems = set(weights) | {stem(x) for x in words(q.text)}
    q_names, q_numbers = _units(q.text)
    quotes = quoted_words(q.text)
    kind_onehot = {f"kind_{k}": float(q.kind == k) for k in KINDS}
    days = [d for p in passages if (d := day_of(p.chunk.published))]
    newest = max(days) if days else None
    everything: set[str] = set()
    by_article: dict[str, set[str]] = {}
    for p in passages:
        have = stems_of(words(p.chunk.text + " " + p.chunk.title))
        everything |= have
        by_article.setdefault(p.chunk.article_id, set()).update(have)
    missing_all = 1.0 - share(weights, everything)[0]
    out: list[Candidate] = []
    seen: set[str] = set()
    for n, p in enumerate(passages, start=1):
        c = p.chunk
        title_lex = share(weights, stems_of(words(c.title)))[0]
        passage_lex = share(weights, stems_of(words(c.text)))[0]
        article_lex = share(weights, by_article[c.article_id])[0]
        day = day_of(c.published)
        age = (as_of - day).days if (as_of and day) else None
        in_dates = float(bool(when and day and _within(day, when)))
        stale = float(bool(when and day and when.since and (when.since - day).days > 60))
        spans = sentence_spans(c.text)
        lexes = [share(weights, stems_of(words(c.text[a:b]))) for a, b in spans]
        for i, (a, b) in enumerate(spans):
            a += dateline_length(c.text[a:b])
            s = c.text[a:b]
            toks = words(s)
            key = " ".join(toks)
            if key in seen or not answer_like(s, toks, c.title):
                continue
            seen.add(key)
            own = content_words(s)
            fresh = sum(stem(x) not in q_stems for x in own)
            s_names, s_numbers = _units(s)
            lex, matched = lexes[i]
            offset = c.start + a
            f = {
                "lexical": lex, "matched": float(matched),
                "matched_share": matched / len(weights),
                "lexical_prev": lexes[i - 1][0] if i > 0 else 0.0,
                "lexical_next": lexes[i + 1][0] if i + 1 < len(lexes) else 0.0,
                "lexical_title": title_lex, "lexical_passage": passage_lex,
                "lexical_article": article_lex, "missing_all": missing_all,
                "kind_strength": answer_strength(q, s),
                "names_thing": float(q.kind == "which" and names_thing(q, s)),
                "novelty": fresh / max(len(own), 1), "fresh_words": float(fresh),
                "new_names": float(len(s_names - q_names)),
                "new_numbers": float(len(s_numbers - q_numbers)),
                "has_number": float(bool(s_numbers)),
                "quote": float(bool(quotes) and any(x in key for x in quotes)),
                "cloze": float(lex >= 0.5 and 0 < fresh <= 3),
                "offset_log": math.log1p(offset), "lead": float(offset < LEAD_CHARS),
                "sentence_index": float(i), "words": float(len(toks)),
                "rank": float(n), "in_dates": in_dates, "stale": stale,
                "age_log": math.log1p(max(age, 0)) if age is not None else -1.0,
                "newest": float(day is not None and day == newest),
                "question_terms": float(len(weights)), "story": float(q.story),
                **kind_onehot,
            }
            out.append(Candidate(n, s, c.article_id, c.published, offset, f, c.title))
    _relative(out)
    return out


def _within(day: date, span: DateRange) -> bool:
    return (span.since is None or day >= span.since) and (span.until is None or day <= span.until)


def _relative(cands: list[Candidate]) -> None:
    """Each candidate against the best of the question: a sentence is an answer only as much
    as the others are not."""
    if not cands:
        return
    for c in cands:
        f = c.features
        f["relevance"] = (f["lexical"] + 0.3 * f["lexical_prev"] + 0.3 * f["lexical_title"]
                          + 0.2 * f["lexical_article"])
    for name, gap in (("lexical", "lexical_gap"), ("relevance", "relevance_gap")):
        values = np.array([c.features[name] for c in cands])
        best = values.max()
        order = (-values).argsort(kind="stable").argsort()
        for c, v, r in zip(cands, values, order):
            c.features[gap] = float(best - v)
            if name == "lexical":
                c.features["lexical_rank"] = float(r)


def matrix(cands: Sequence[Candidate], names: Sequence[str]) -> np.ndarray:
    """The candidates' features as rows, in the order of `names`."""
    return np.array([[c.features[n] for n in names] for c in cands], dtype=np.float64).reshape(
        len(cands), len(names))


# ------------------------------------------------------------------ the second stage

def meaning_text(sentence: str) -> str:
    if len(sentence) <= MEANING_CHARS:
        return sentence
    return sentence[:MEANING_CHARS].rsplit(" ", 1)[0]


def meaning_features(question: str, cands: Sequence[Candidate], first: np.ndarray,
                     embed: Callable[[Sequence[str]], np.ndarray] | None,
                     titles: Sequence[str]) -> None:
    """Adds the second-stage features to the candidates (the best by the first stage, in order):
    closeness in meaning of the question to the sentence and to its headline."""
    if not cands:
        return
    if embed is None:
        sims = np.zeros(len(cands))
        title_sims = np.zeros(len(cands))
    else:
        uniq = list(dict.fromkeys(t for t in titles if t))
        vecs = embed([question] + [meaning_text(c.text) for c in cands] + uniq)
        qv = vecs[0]
        sims = vecs[1:1 + len(cands)] @ qv
        by_title = dict(zip(uniq, vecs[1 + len(cands):] @ qv))
        title_sims = np.array([by_title.get(t, 0.0) for t in titles])
    order = (-sims).argsort(kind="stable").argsort()
    first_order = (-first).argsort(kind="stable").argsort()
    for c, s, ts, r, fs, fr in zip(cands, sims, title_sims, order, first, first_order):
        c.features.update(first_score=float(fs), first_rank=float(fr), meaning=float(s),
                          meaning_gap=float(sims.max() - s), meaning_rank=float(r),
                          meaning_title=float(ts))
