"""Grounding: do an answer's cited passages support its sentences (ALCE citation recall/precision)?

The support judge is pluggable: `lexical` (offline default: content-word containment plus MiniLM
cosine), `llm` (a yes/no question to any OpenAI-compatible endpoint) and `nli` (a configured
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


# ---------------------------------------------------------------- lexical (offline default)

# The most accurate cut on the RealTime QA dev check set, the only data it was tuned on
# (docs/eval/README.md, "Judge check"): unrelated passages there score at most 0.217.
LEXICAL_THRESHOLD = 0.22


class LexicalJudge(_Single):
    """rag.citations.SupportScorer (stem containment, MiniLM cosine for the middle ground),
    thresholded: the same scorer the pipeline checks its own citations with."""

    name = "lexical"

    def __init__(self, threshold: float = LEXICAL_THRESHOLD, embed: Callable | None = None):
        self.threshold = threshold
        self._embed = embed
        self._scorer = None

    @property
    def scorer(self):
        if self._scorer is None:
            from rag.citations import SupportScorer

            if self._embed is None:
                from rag.embedders import get_embedder

                self._embed = get_embedder("minilm").embed_batch
            self._scorer = SupportScorer(self._embed)
        return self._scorer

    def score_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        return [self.scorer.score(c, p).score for c, p in pairs]

    def supports_batch(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        return [s >= self.threshold for s in self.score_batch(pairs)]


# ---------------------------------------------------------------- llm (OpenAI-compatible)

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


@JUDGES.register("lexical")
def _lexical(settings: Settings, tools: Tools) -> SupportJudge:
    return LexicalJudge(threshold=float(settings.extra.get("judge_threshold", LEXICAL_THRESHOLD)),
                        embed=tools.embed)


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


HARD_KINDS = ("number", "date", "name", "negation", "swap")


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
    names_pool = sorted({n for q in questions for e in q.gold_evidence[:1] for n in _names_in(e)})
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


# ---------------------------------------------------------------- hard negatives

_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?![\w])")
_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z][\w'’\-]*(?:\s+[A-Z][a-z][\w'’\-]*)*")
_AUX = re.compile(r"\b(is|are|was|were|will|would|has|have|had|can|could|should|did|does|do)\b")
_NOT = re.compile(r"\s+not\b|n['’]t\b")
_COMMON = frozenset(_MONTH_NAMES + _DAY_NAMES + ("The", "A", "An", "In", "On", "It", "This"))


def _names_in(text: str) -> list[str]:
    return [m.group() for m in _NAME.finditer(text) if m.group() not in _COMMON]


def hard_negatives(claim: str, passage: str, rng: random.Random,
                   names_pool: Sequence[str] = ()) -> list[tuple[str, str]]:
    """The claim with one fact changed so that the passage no longer supports it: a number,
    a date, a name, a negation added or removed, two names swapped. Only changes that make
    the claim false against this passage are kept (a new number the passage lacks, say)."""
    out: list[tuple[str, str]] = []
    low = passage.lower()
    nums = [m for m in _NUMBER.finditer(claim) if not re.fullmatch(r"(19|20)\d\d", m.group())]
    if nums:
        m = rng.choice(nums)
        for _ in range(20):
            new = _changed_number(m.group(), rng)
            if new.replace(",", "") not in passage.replace(",", ""):
                out.append(("number", claim[: m.start()] + new + claim[m.end():]))
                break
    dated = [d for d in _MONTH_NAMES + _DAY_NAMES if re.search(rf"\b{d}\b", claim)]
    years = list(re.finditer(r"\b(19|20)\d\d\b", claim))
    if dated:
        d = rng.choice(dated)
        group = _MONTH_NAMES if d in _MONTH_NAMES else _DAY_NAMES
        others = [x for x in group if x != d and x.lower() not in low]
        if others:
            out.append(("date", re.sub(rf"\b{d}\b", rng.choice(others), claim, count=1)))
    elif years:
        m = rng.choice(years)
        for delta in rng.sample([-3, -2, -1, 1, 2, 3], 6):
            new = str(int(m.group()) + delta)
            if new not in passage:
                out.append(("date", claim[: m.start()] + new + claim[m.end():]))
                break
    names = [n for n in dict.fromkeys(_names_in(claim)) if n.lower() in low]
    if names:
        n = rng.choice(names)
        pool = [x for x in names_pool if x.lower() not in low and x not in claim]
        if pool:
            out.append(("name", claim.replace(n, rng.choice(pool), 1)))
    if _NOT.search(claim):
        out.append(("negation", _NOT.sub("", claim, count=1)))
    elif m := _AUX.search(claim):
        out.append(("negation", claim[: m.end()] + " not" + claim[m.end():]))
    else:
        out.append(("negation", "It is not true that " + claim[0].lower() + claim[1:]))
    if len(names) >= 2:
        a, b = names[0], names[1]
        if a not in b and b not in a:
            swapped = claim.replace(a, "\0").replace(b, a).replace("\0", b)
            out.append(("swap", swapped))
    return out


def _changed_number(text: str, rng: random.Random) -> str:
    """Another plausible value written the same way: 14.2 -> 41.2 or 15.2, 1,850 -> 1,950."""
    digits = [i for i, ch in enumerate(text) if ch.isdigit()]
    chars = list(text)
    if len(digits) >= 2 and rng.random() < 0.5:
        i, j = digits[0], digits[1]
        if chars[i] != chars[j]:
            chars[i], chars[j] = chars[j], chars[i]
            return "".join(chars)
    i = rng.choice(digits)
    d = int(chars[i])
    chars[i] = str((d + rng.randint(1, 8)) % 10) if i != digits[0] else str(rng.randint(1, 9))
    if "".join(chars) == text:
        chars[i] = str((d + 1) % 10 or 1)
    return "".join(chars)
