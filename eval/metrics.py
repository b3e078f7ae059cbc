"""Retrieval and answer metrics: pure functions over rankings and strings, no model involved."""
from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

from rag.text import STOPWORDS

KS = (1, 5, 10)
FACT_CONTAINMENT = 0.8  # share of a fact's content words a passage must hold to count as a hit
FACT_MIN_WORDS = 5  # shorter facts must appear verbatim (normalised)


# ---------------------------------------------------------------- retrieval

def first_occurrences(items: Iterable[str]) -> list[str]:
    """Document ranking from a passage ranking: each document at the rank of its first passage."""
    return list(dict.fromkeys(items))


def novel_hits(covers: Sequence[Iterable[str]]) -> list[bool]:
    """hit[i]: item i covers a gold unit that no higher-ranked item covered (binary relevance)."""
    seen: set[str] = set()
    hits = []
    for c in covers:
        new = set(c) - seen
        hits.append(bool(new))
        seen |= new
    return hits


def recall_at(covers: Sequence[Iterable[str]], n_gold: int, k: int) -> float:
    """Share of the gold units covered by the top k items."""
    if n_gold <= 0:
        return 0.0
    found: set[str] = set()
    for c in covers[:k]:
        found |= set(c)
    return min(len(found), n_gold) / n_gold


def mrr_at(covers: Sequence[Iterable[str]], k: int = 10) -> float:
    """1 / rank of the first relevant item within the top k, else 0."""
    for rank, hit in enumerate(novel_hits(covers[:k]), 1):
        if hit:
            return 1.0 / rank
    return 0.0


def average_precision_at(covers: Sequence[Iterable[str]], n_gold: int, k: int = 10) -> float:
    """Sum of precision@i over the relevant ranks i <= k, divided by min(n_gold, k)."""
    if n_gold <= 0:
        return 0.0
    total, found = 0.0, 0
    for rank, hit in enumerate(novel_hits(covers[:k]), 1):
        if hit:
            found += 1
            total += found / rank
    return total / min(n_gold, k)


def ndcg_at(covers: Sequence[Iterable[str]], n_gold: int, k: int = 10) -> float:
    """DCG of the binary hits (1/log2(rank+1)) over the DCG of min(n_gold, k) hits at the top."""
    if n_gold <= 0:
        return 0.0
    dcg = sum(1 / math.log2(r + 1) for r, h in enumerate(novel_hits(covers[:k]), 1) if h)
    ideal = sum(1 / math.log2(r + 1) for r in range(1, min(n_gold, k) + 1))
    return dcg / ideal


def ranking_metrics(covers: Sequence[Iterable[str]], n_gold: int) -> dict[str, float]:
    """Recall@1/5/10, MRR@10, MAP@10 (this query's AP) and nDCG@10 of one ranking."""
    covers = [frozenset(c) for c in covers]
    out = {f"recall@{k}": recall_at(covers, n_gold, k) for k in KS}
    out["mrr@10"] = mrr_at(covers, 10)
    out["map@10"] = average_precision_at(covers, n_gold, 10)
    out["ndcg@10"] = ndcg_at(covers, n_gold, 10)
    return out


# ---------------------------------------------------------------- text normalisation

def _strip_punct(text: str) -> str:
    return "".join(
        ch for ch in text if ch not in string.punctuation and not unicodedata.category(ch).startswith("P")
    )


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation (Unicode too), no a/an/the, single spaces."""
    text = _strip_punct(unicodedata.normalize("NFKC", text).lower())
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def answer_tokens(text: str) -> list[str]:
    return normalize_answer(text).split()


def content_tokens(text: str) -> list[str]:
    """SQuAD tokens without stop words; all tokens when only stop words are left."""
    toks = answer_tokens(text)
    kept = [t for t in toks if t not in STOPWORDS]
    return kept or toks


def phrase_in(phrase: str, text: str) -> bool:
    """The normalised phrase occurs in the normalised text on whole-token boundaries."""
    p, t = normalize_answer(phrase), normalize_answer(text)
    return bool(p) and f" {p} " in f" {t} "


# ---------------------------------------------------------------- passage-level gold (facts)

def _squash(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def fact_containment(fact: str, passage: str) -> float:
    """Share of the fact's distinct content words that the passage holds."""
    want = set(content_tokens(fact))
    if not want:
        return 0.0
    return len(want & set(answer_tokens(passage))) / len(want)


def fact_hit(fact: str, passage: str) -> bool:
    """A passage holds a gold fact: verbatim (case and whitespace normalised), or, for facts of
    at least FACT_MIN_WORDS content words, FACT_CONTAINMENT of their content words."""
    if _squash(fact) and _squash(fact) in _squash(passage):
        return True
    if len(set(content_tokens(fact))) < FACT_MIN_WORDS:
        return False
    return fact_containment(fact, passage) >= FACT_CONTAINMENT


def facts_in(passage: str, facts: Sequence[str]) -> frozenset[str]:
    return frozenset(f for f in facts if fact_hit(f, passage))


# ---------------------------------------------------------------- answers

def exact_match(prediction: str, golds: Sequence[str]) -> float:
    p = normalize_answer(prediction)
    return float(any(p == normalize_answer(g) for g in golds))


def contains_answer(prediction: str, golds: Sequence[str]) -> float:
    """A gold answer occurs in the prediction (SQuAD-normalised, whole tokens)."""
    return float(any(phrase_in(g, prediction) for g in golds))


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """SQuAD token F1, the best over the gold answers."""
    pred = answer_tokens(prediction)
    best = 0.0
    for g in golds:
        gold = answer_tokens(g)
        common = sum((Counter(pred) & Counter(gold)).values())
        if common == 0:
            continue
        precision, recall = common / len(pred), common / len(gold)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def choice_scores(answer: str, choices: Sequence[str]) -> list[float]:
    """How strongly the answer supports each choice.

    A choice whose whole phrase is in the answer scores 1 + (its word count)/1000, so that the
    longer of two contained choices ("Squid Game" over "Game") wins; otherwise the share of its
    content words the answer holds (0..1).
    """
    have = set(answer_tokens(answer))
    scores = []
    for c in choices:
        if phrase_in(c, answer):
            scores.append(1.0 + len(answer_tokens(c)) / 1000)
            continue
        want = set(content_tokens(c))
        scores.append(len(want & have) / len(want) if want else 0.0)
    return scores


def picked_choice(answer: str, choices: Sequence[str]) -> int | None:
    """The choice the answer supports best; None when no choice scores above 0 or the best tie."""
    if not answer or not choices:
        return None
    scores = choice_scores(answer, choices)
    best = max(scores)
    if best <= 0 or scores.count(best) > 1:
        return None
    return scores.index(best)


def choice_correct(answer: str, choices: Sequence[str], answer_index: Sequence[int]) -> float:
    return float(picked_choice(answer, choices) in set(answer_index))


def abstention_rate(abstained: Sequence[bool]) -> float:
    return sum(map(bool, abstained)) / len(abstained) if abstained else 0.0


def mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None
