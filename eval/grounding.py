"""Grounding: do an answer's cited passages support its sentences (ALCE citation recall/precision)?

The support judge is pluggable: `learned` (offline default: the pipeline's own learned judge,
rag/support_model.py), `llm` (a yes/no question to any OpenAI-compatible endpoint) and `nli` (a configured
sentence-transformers CrossEncoder). `check_judge` measures a judge against known labels.
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Protocol

import numpy as np

from eval.negatives import KINDS, hard_negatives, names_in
from rag.errors import ConfigError, NewsragError
from rag.registry import JUDGES, Tools, make
from rag.settings import Settings
from rag.types import Answer

JOIN = "\n\n"  # how the cited passages of a sentence are concatenated, as in ALCE


class JudgeError(NewsragError):
    """The support judge failed (unreachable endpoint, unreadable reply, missing model)."""


class SupportJudge(Protocol):
    name: str

    def supports_batch(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        """For each (claim, passage): does the passage support (entail) the claim?"""

    def supports(self, claim: str, passage: str) -> bool: ...


class _Single:
    def supports(self, claim: str, passage: str) -> bool:
        return self.supports_batch([(claim, passage)])[0]


# ---------------------------------------------------------------- learned (offline default)

class LearnedJudge(_Single):
    """rag.citations.SupportScorer: the learned support judge the pipeline checks its own
    citations with (rag/support_model.py), at its learned threshold unless one is given."""

    name = "learned"

    def __init__(self, threshold: float | None = None, model_path: str | None = None):
        from rag.citations import SupportScorer
        from rag.support_model import SUPPORT_MODEL_PATH, default_model

        self.scorer = SupportScorer(default_model(model_path or SUPPORT_MODEL_PATH), threshold)
        self.threshold = self.scorer.threshold

    def score_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        return [self.scorer.score(c, p).score for c, p in pairs]

    def supports_batch(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        return [self.scorer.score(c, p).supported for c, p in pairs]


# ---------------------------------------------------------------- llm

JUDGE_PROMPT = (
    "Passage:\n{passage}\n\nClaim: {claim}\n\n"
    "Is the claim fully supported by the passage? Answer with one word: yes or no."
)


class LLMJudge(_Single):
    """Asks any OpenAI-compatible chat endpoint a yes/no question per (claim, passage)."""

    name = "llm"

    def __init__(self, base_url: str, model: str, api_key: str | None = None,
                 timeout: float = 60.0, max_passage_chars: int = 6000):
        if not base_url or not model:
            raise ConfigError("The llm judge needs llm_base_url and llm_model (e.g. "
                              "NEWSRAG_LLM_BASE_URL=http://127.0.0.1:8080/v1, NEWSRAG_LLM_MODEL=qwen)")
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)
        self.model = model
        self.max_passage_chars = max_passage_chars

    def ask(self, claim: str, passage: str) -> bool:
        import httpx

        body = {
            "model": self.model,
            "temperature": 0,
            "max_tokens": 3,
            "messages": [
                {"role": "system", "content": "You check whether claims follow from a passage."},
                {"role": "user", "content": JUDGE_PROMPT.format(
                    passage=passage[: self.max_passage_chars], claim=claim)},
            ],
        }
        try:
            r = self.client.post("/chat/completions", json=body)
            r.raise_for_status()
            reply = r.json()["choices"][0]["message"]["content"] or ""
        except httpx.HTTPError as e:
            raise JudgeError(f"The llm judge at {self.client.base_url} failed: {e}") from None
        except (KeyError, IndexError, TypeError, ValueError):
            raise JudgeError(f"The llm judge at {self.client.base_url} sent no chat reply") from None
        word = re.findall(r"[a-z]+", reply.lower())
        if not word or word[0] not in ("yes", "no"):
            raise JudgeError(f"The llm judge answered {reply!r}, expected yes or no")
        return word[0] == "yes"

    def supports_batch(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        return [self.ask(c, p) for c, p in pairs]


# ---------------------------------------------------------------- nli (optional CrossEncoder)

class NLIJudge(_Single):
    """A sentence-transformers CrossEncoder NLI model: supported when 'entailment' wins."""

    name = "nli"

    def __init__(self, model_path: str, batch_size: int = 16):
        if not model_path:
            raise ConfigError("The nli judge needs judge_model: a local path (or hub name) of an "
                              "NLI cross-encoder; none ships with newsrag")
        try:
            from sentence_transformers import CrossEncoder
        except ImportError:
            raise JudgeError("sentence-transformers is not installed: pip install newsrag") from None
        try:
            self.model = CrossEncoder(model_path, device="cpu")
        except OSError as e:
            raise ConfigError(f"Cannot load the nli judge model {model_path!r}: {e}") from None
        labels = {i: str(n).lower() for i, n in self.model.model.config.id2label.items()}
        found = [i for i, n in labels.items() if n.startswith("entail")]
        if not found:
            raise ConfigError(f"{model_path!r} has no entailment label (labels: {labels})")
        self.entailment = found[0]
        self.batch_size = batch_size

    def supports_batch(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        if not pairs:
            return []
        logits = self.model.predict([(p, c) for c, p in pairs], batch_size=self.batch_size)
        return [int(np.argmax(row)) == self.entailment for row in np.atleast_2d(logits)]


@JUDGES.register("learned")
def _learned(settings: Settings, tools: Tools) -> SupportJudge:
    cut = settings.extra.get("judge_threshold", settings.support_threshold)
    return LearnedJudge(threshold=None if cut is None else float(cut))


@JUDGES.register("llm")
def _llm(settings: Settings, tools: Tools) -> SupportJudge:
    return LLMJudge(settings.llm_base_url or "", settings.llm_model or "", settings.llm_api_key,
                    settings.llm_timeout)


@JUDGES.register("nli")
def _nli(settings: Settings, tools: Tools) -> SupportJudge:
    return NLIJudge(settings.judge_model or "")


def get_judge(name: str, settings: Settings, tools: Tools | None = None) -> SupportJudge:
    """A judge by name, through the one door of `rag.registry` (the judges register above)."""
    return make("judge", name, settings, tools)


# ---------------------------------------------------------------- grounding of one answer

@dataclass(frozen=True)
class CitedSentence:
    text: str
    passages: tuple[str, ...]  # the texts of the passages the sentence cites


def cited_sentences(answer: Answer) -> list[CitedSentence]:
    """The answer's sentences with the texts they cite (unknown citation numbers are dropped)."""
    by_number = {c.number: c.passage for c in answer.citations}
    return [
        CitedSentence(s.text, tuple(by_number[n] for n in dict.fromkeys(s.citations)
                                    if n in by_number))
        for s in answer.sentences if s.text.strip()
    ]


@dataclass
class Grounding:
    sentences: int = 0
    cited: int = 0  # sentences with at least one citation
    supported: int = 0  # sentences their citations jointly support
    citations: int = 0
    precise: int = 0  # citations that are not irrelevant (ALCE)
    rows: list[dict] = field(default_factory=list)

    @property
    def cited_share(self) -> float | None:
        return self.cited / self.sentences if self.sentences else None

    @property
    def recall(self) -> float | None:
        return self.supported / self.sentences if self.sentences else None

    @property
    def precision(self) -> float | None:
        return self.precise / self.citations if self.citations else None

    @property
    def unsupported_share(self) -> float | None:
        return 1 - self.supported / self.sentences if self.sentences else None

    def to_dict(self) -> dict[str, Any]:
        return {"sentences": self.sentences, "cited": self.cited, "supported": self.supported,
                "citations": self.citations, "precise": self.precise,
                "cited_share": self.cited_share, "citation_recall": self.recall,
                "citation_precision": self.precision, "unsupported_share": self.unsupported_share}


def ground(sentences: Sequence[CitedSentence], judge: SupportJudge) -> Grounding:
    """ALCE citation recall and precision of one answer, in three batched rounds of judging.

    recall: a sentence counts when the concatenation of its cited passages supports it
    (an uncited sentence never does). precision: as in ALCE's code, each citation of a
    supported sentence counts unless it is irrelevant (it alone does not support the sentence
    and the remaining citations still do); the citations of an unsupported sentence never count.
    """
    g = Grounding(sentences=len(sentences))
    cited = [i for i, s in enumerate(sentences) if s.passages]
    g.cited = len(cited)
    g.citations = sum(len(sentences[i].passages) for i in cited)
    joint = dict(zip(cited, judge.supports_batch(
        [(sentences[i].text, JOIN.join(sentences[i].passages)) for i in cited])))
    multi = [i for i in cited if joint[i] and len(sentences[i].passages) > 1]
    singles = [(i, j) for i in multi for j in range(len(sentences[i].passages))]
    alone = dict(zip(singles, judge.supports_batch(
        [(sentences[i].text, sentences[i].passages[j]) for i, j in singles])))
    doubtful = [key for key, ok in alone.items() if not ok]
    rest = dict(zip(doubtful, judge.supports_batch([
        (sentences[i].text, JOIN.join(p for n, p in enumerate(sentences[i].passages) if n != j))
        for i, j in doubtful])))
    for i, s in enumerate(sentences):
        ok = joint.get(i, False)
        if ok and i in multi:
            precise = sum(not rest.get((i, j), False) for j in range(len(s.passages)))
        else:
            precise = len(s.passages) if ok else 0
        g.supported += ok
        g.precise += precise
        g.rows.append({"text": s.text, "citations": len(s.passages), "supported": ok,
                       "precise_citations": precise})
    return g


def aggregate(groundings: Sequence[Grounding]) -> dict[str, float | None]:
    """Macro averages over answers (as ALCE reports them) and micro shares over all sentences."""
    def macro(attr: str) -> float | None:
        vals = [getattr(g, attr) for g in groundings if getattr(g, attr) is not None]
        return sum(vals) / len(vals) if vals else None

    sents = sum(g.sentences for g in groundings)
    cites = sum(g.citations for g in groundings)
    return {
        "answers": len(groundings),
        "sentences": sents,
        "cited_share": macro("cited_share"),
        "citation_recall": macro("recall"),
        "citation_precision": macro("precision"),
        "unsupported_share": macro("unsupported_share"),
        "micro_cited_share": sum(g.cited for g in groundings) / sents if sents else None,
        "micro_citation_recall": sum(g.supported for g in groundings) / sents if sents else None,
        "micro_citation_precision": sum(g.precise for g in groundings) / cites if cites else None,
        # the breakdown the chart draws: every sentence is exactly one of these
        "supported_sentences": sum(g.supported for g in groundings),
        "cited_unsupported_sentences": sum(g.cited - g.supported for g in groundings),
        "uncited_sentences": sum(g.sentences - g.cited for g in groundings),
    }


# ---------------------------------------------------------------- judge check

@dataclass(frozen=True)
class CheckPair:
    claim: str
    passage: str
    label: bool
    question_id: str = ""
    kind: str = ""  # "true", "unrelated", or the hard negative's change (see HARD_KINDS)


HARD_KINDS = KINDS  # eval/negatives.py


def check_judge(judge: SupportJudge, pairs: Sequence[CheckPair]) -> dict[str, Any]:
    """Accuracy, precision and recall (of 'supported') of a judge against known labels: over
    the easy check (true claims and unrelated passages), and over the hard negatives (a true
    claim with one fact changed, against its own passage) by kind of change."""
    if not pairs:
        return {"pairs": 0, "accuracy": None, "precision": None, "recall": None}
    got = judge.supports_batch([(p.claim, p.passage) for p in pairs])
    easy = [(g, p) for g, p in zip(got, pairs) if p.kind in ("", "true", "unrelated")]
    out = confusion([g for g, _ in easy], [p.label for _, p in easy]) | {"judge": judge.name}
    hard = [(g, p) for g, p in zip(got, pairs) if p.kind in HARD_KINDS]
    if hard:
        out["hard"] = {
            "pairs": len(hard),
            "accuracy": sum(not g for g, _ in hard) / len(hard),  # all are unsupported
            "by_kind": {k: {"pairs": len(ks), "accuracy": sum(not g for g in ks) / len(ks)}
                        for k in HARD_KINDS
                        if (ks := [g for g, p in hard if p.kind == k])},
        }
        out["true_recall"] = out["recall"]
    return out


def confusion(predicted: Sequence[bool], labels: Sequence[bool]) -> dict[str, Any]:
    tp = sum(p and t for p, t in zip(predicted, labels))
    fp = sum(p and not t for p, t in zip(predicted, labels))
    fn = sum(t and not p for p, t in zip(predicted, labels))
    tn = len(labels) - tp - fp - fn
    return {
        "pairs": len(labels), "positives": tp + fn, "negatives": tn + fp,
        "accuracy": (tp + tn) / len(labels) if labels else None,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
    }


def best_threshold(scores: Sequence[float], labels: Sequence[bool]) -> tuple[float, float]:
    """The threshold (midway between neighbouring scores) of highest accuracy, and that accuracy."""
    points = sorted(set(scores))
    cuts = [points[0] - 1e-6] + [(a + b) / 2 for a, b in pairwise(points)] + [points[-1] + 1e-6]
    best = max(cuts, key=lambda t: (sum((s >= t) == y for s, y in zip(scores, labels)), -abs(t - 0.5)))
    return best, sum((s >= best) == y for s, y in zip(scores, labels)) / len(labels)


def build_check_set(catalog, questions: Sequence[Any], units_of: Callable[[Any], list],
                    seed: int = 13, hard: bool = True) -> list[CheckPair]:
    """Each question's gold evidence against the best-matching passage of its own gold article
    (supported) and against a passage of an unrelated article (not supported); with `hard`,
    also the evidence with one fact changed against its own passage (not supported)."""
    from eval.metrics import fact_containment, fact_hit

    rng = random.Random(seed)
    all_articles = catalog.article_ids_with_chunks()
    # names to put in the place of a claim's own: those of the other questions' evidence
    names_pool = sorted({n for q in questions for e in q.gold_evidence[:1] for n in names_in(e)})
    pairs: list[CheckPair] = []
    for q in questions:
        gold = {a for unit in units_of(q) for a in unit}
        if not q.gold_evidence or not gold:
            continue
        claim = q.gold_evidence[0]
        chunks = catalog.chunk_texts(sorted(gold))
        if not chunks:
            continue
        best = max(chunks, key=lambda t: (fact_hit(claim, t), fact_containment(claim, t)))
        pairs.append(CheckPair(claim, best, True, q.id, "true"))
        if hard:
            pairs += [CheckPair(changed, best, False, q.id, kind)
                      for kind, changed in hard_negatives(claim, best, rng, names_pool)]
        others = [a for a in all_articles if a not in gold]
        if others:
            other = rng.choice(others)
            texts = catalog.chunk_texts([other])
            pairs.append(CheckPair(claim, rng.choice(texts), False, q.id, "unrelated"))
    return pairs
