"""`make train` (second part): fit the support judge on RealTime QA's 2023-2024 questions, set
its threshold out of fold, write rag/models/support.npz and print the figures of
docs/support_judge.md.

The pairs, all from the training weeks (the dev questions are never read here):
- true: each sentence of the quiz's evidence (a journalist's paraphrase) against the chunk of
  the question's own documents that covers most of it (at least half its content words); and
  one of that chunk's own sentences (verbatim, as an extractive answer quotes it);
- hard negatives: each true claim with one fact changed (eval/negatives.py: number, date moved
  to another event, name, who-did-what swap, negation, stance, quantifier), against the same
  passage;
- unrelated: the evidence sentence against a chunk of another question's documents.
A sentence is paired with a chunk only when the chunk states it: its best sentence (or two)
holds MIN_COVER of the claim's content words, every number of the claim and at least half its
names; the others are counted in the card, not labelled.

The validation split is the last ten weeks; the threshold is set on the fit weeks out of fold
(five folds by question), so the validation figures are of a model and a threshold that never
saw those weeks.

    python -m eval.train_support [--train DIR] [--out FILE] [--limit N]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eval.metrics import phrase_in
from eval.negatives import KINDS, hard_negatives, names_in
from eval.train_answerer import (
    SEED,
    TRAIN_DIR,
    VALIDATION_WEEKS,
    load_chunks,
    load_questions,
    log,
    make_model,
    out_of_fold,
    to_scorer,
    train_folder_ok,
)
from rag.facts import _TOKEN, names, numbers
from rag.settings import Settings
from rag.support_features import RULES, SUPPORT_FEATURES, best_window, read, rule_of
from rag.support_model import SUPPORT_MODEL_PATH, SupportModel
from rag.text import sentence_spans
from rag.types import Chunk

# an evidence sentence is paired with the chunk whose best sentence (or two) holds at least
# this share of its content words, and the gold answer when the sentence holds it: below, the
# chunk mostly says something else (read on training pairs: at 0.5, about half of those read
# were not supported by their chunk)
MIN_COVER = 0.65
CROSS_PER_QUESTION = 4  # sentences of one document tried against the others
# a fact rule that fires on at most this share of the fit weeks' true pairs is a veto (the
# pairs it fires on are mostly ones their chunk does not in fact state: read in the card)
VETO_AT_MOST = 0.035
# and these by definition: a passage that never states a number, a unit or anyone of a name
# does not support a claim of it; one that says "B beat A" wherever it names both does not
# support "A beat B" (it fires on 4% of the true pairs, most of them reorderings the rule reads
# wrongly: the price of never showing a swapped actor and object as sourced; the card says more)
ALWAYS_VETO = ("number", "unit", "name_invented", "roles")
# and these after the threshold is set: a claim copying the passage's sentence with another name
# put in is a wrong name by definition (it fires on 0.4% of the fit weeks' true pairs); in the
# balance it lowers the threshold until other kinds lose as many catches as it adds, and the
# acceptance that buys does not carry to the validation weeks (docs/support_judge.md)
LATE_VETOES = ("name_replaced",)


TRUE_KINDS = ("true", "paraphrase", "verbatim")


@dataclass
class Pair:
    claim: str
    chunk: Chunk
    label: bool
    kind: str  # "true" (paraphrase), "verbatim", "unrelated", or a hard negative's kind
    qid: str
    week: str


def evidence_sentences(q: dict) -> list[str]:
    """The quiz evidence's sentences of six words or more, the one holding the gold first."""
    text = q.get("evidence_text") or ""
    out = [text[a:b] for a, b in sentence_spans(text) if len(text[a:b].split()) >= 6]
    return sorted(out, key=lambda s: not any(phrase_in(g, s) for g in q["answer"]))


def _numbers_stated(claim: str, chunk: Chunk) -> bool:
    have = {v.split(" ")[0] for v, _ in numbers(f"{chunk.title}\n{chunk.text}\n{chunk.published}")}
    have |= {v for v, _ in numbers(f"{chunk.title}\n{chunk.text}")}
    return all(v in have or v.split(" ")[0] in have for v, _ in numbers(claim))


def _names_stated(claim: str, chunk: Chunk) -> bool:
    """At least half the claim's names are in the chunk (or its headline)."""
    mine = set(names(claim))
    if not mine:
        return True
    here = {t.lower().replace(".", "") for t in _TOKEN.findall(f"{chunk.title}\n{chunk.text}")}
    return len(mine & here) * 2 >= len(mine)


def build_pairs(questions: Sequence[dict], chunks: dict[str, list[Chunk]], seed: int = SEED,
                cross: int = CROSS_PER_QUESTION) -> tuple[list[Pair], Counter]:
    """The pairs of these questions: their evidence sentences, and `cross` sentences a question
    of one document's, each against the chunk of its own documents that states it."""
    rng = random.Random(seed)
    pool = sorted({n for q in questions for c in evidence_sentences(q)[:1] for n in names_in(c)})
    all_chunks = [(q["question_id"], c) for q in questions for d in q["gcs_doc_ids"]
                  for c in chunks.get(d, ())]
    pairs: list[Pair] = []
    counts: Counter = Counter()
    for q in questions:
        mine = [c for d in q["gcs_doc_ids"] for c in chunks.get(d, ())]
        if not mine:
            counts["questions without documents"] += 1
            continue
        claims = [(s, "true", mine) for s in evidence_sentences(q)]
        claims += [(s, "paraphrase", [c for c in mine if c.article_id != aid])
                   for s, aid in _gold_sentences(q, mine, rng)[:cross]]
        verbatim_done = False
        for claim, kind, where in claims:
            anchored = [g for g in q["answer"] if phrase_in(g, claim)]
            candidates = [c for c in where if any(phrase_in(g, c.text) for g in anchored)] \
                if anchored else where
            best = _pair(claim, candidates, counts, kind)
            if best is None:
                continue
            new = [Pair(claim, best, True, kind, q["question_id"], q["week"])]
            if not verbatim_done:  # one of the chunk's own sentences, as an answerer quotes it
                _, single, _, _ = best_window(claim, best.text)
                own = best.text[single[0]:single[1]]
                if own != claim and len(own.split()) >= 6:
                    new.append(Pair(own, best, True, "verbatim", q["question_id"], q["week"]))
                    verbatim_done = True
            for p in list(new):
                for neg, changed in hard_negatives(p.claim, best.text, rng, pool,
                                                   best.published):
                    new.append(Pair(changed, best, False, neg, p.qid, p.week))
            others = [ch for other, ch in all_chunks if other != q["question_id"]]
            if others:
                new.append(Pair(claim, rng.choice(others), False, "unrelated", q["question_id"],
                                q["week"]))
            pairs += new
    return pairs, counts


def _gold_sentences(q: dict, mine: Sequence[Chunk], rng: random.Random) -> list[tuple[str, str]]:
    """(sentence, its article) of the question's documents that hold a gold answer, shuffled:
    another article's chunk stating the same fact is their paraphrase."""
    found: dict[str, str] = {}
    for c in mine:
        for a, b in sentence_spans(c.text):
            s = c.text[a:b]
            if 6 <= len(s.split()) <= 60 and any(phrase_in(g, s) for g in q["answer"]):
                found.setdefault(s, c.article_id)
    out = sorted(found.items())
    rng.shuffle(out)
    return out


def _pair(claim: str, candidates: Sequence[Chunk], counts: Counter, kind: str) -> Chunk | None:
    """The chunk that states the claim, or None (counted by why)."""
    if not candidates:
        counts[f"{kind}: its gold answer in no chunk"] += 1
        return None
    cover, best = max(((best_window(claim, c.text)[2], c) for c in candidates),
                      key=lambda x: (x[0], -len(x[1].text)))
    if cover < MIN_COVER:
        counts[f"{kind}: no chunk covering enough of it"] += 1
        return None
    if not _numbers_stated(claim, best):
        counts[f"{kind}: a number its chunk does not state"] += 1
        return None
    if not _names_stated(claim, best):
        counts[f"{kind}: most of its names not in its chunk"] += 1
        return None
    if claim in best.text:
        counts[f"{kind}: verbatim in its chunk"] += 1
        return None
    counts[f"{kind}: paired"] += 1
    return best


def cached_chunks(train: Path, wanted: set[str], cache: Path) -> dict[str, list[Chunk]]:
    """The training documents chunked as an ingest chunks them (minutes), kept in `cache`
    between runs (a local file of this machine, never shipped)."""
    key = hashlib.sha256(("\n".join(sorted(wanted)) + str(Settings().chunk_tokens)).encode())
    path = cache / f"chunks-{key.hexdigest()[:16]}.pickle"
    if path.exists():
        with path.open("rb") as fh:
            return pickle.load(fh)
    chunks = load_chunks(train, wanted, Settings())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(chunks, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)
    return chunks


def features(pairs: Sequence[Pair]) -> tuple[np.ndarray, list[frozenset[str]]]:
    """The features of each pair, and the rules its reasons come from."""
    readings = [read(p.claim, p.chunk.text, published=p.chunk.published, title=p.chunk.title)
                for p in pairs]
    return (np.stack([x.values for x in readings]),
            [frozenset(rule_of(r) for r in x.reasons) for x in readings])


def pick_vetoes(pairs: Sequence[Pair], rules: Sequence[frozenset[str]]) -> tuple[list[str], dict]:
    """The rules that fire on at most VETO_AT_MOST of the true pairs: they refuse a claim
    whatever the model says (and explain why). Their rates on the true pairs, for the card."""
    true = [r for r, p in zip(rules, pairs) if p.kind in ("true", "paraphrase")]
    rates = {rule: round(sum(rule in r for r in true) / max(len(true), 1), 4) for rule in RULES}
    picked = {r for r, rate in rates.items() if rate <= VETO_AT_MOST and r not in LATE_VETOES}
    return sorted(picked | set(ALWAYS_VETO)), rates


def vetoed(rules: Sequence[frozenset[str]], vetoes: Sequence[str]) -> np.ndarray:
    return np.array([bool(r & set(vetoes)) for r in rules])


def figures(pairs: Sequence[Pair], accepted: np.ndarray) -> dict[str, Any]:
    """Accepted share of true claims, caught share of each kind of false one."""
    out: dict[str, Any] = {}
    for kind in (*TRUE_KINDS, "unrelated", *KINDS):
        rows = [a for a, p in zip(accepted, pairs) if p.kind == kind]
        if rows:
            share = float(np.mean(rows)) if kind in TRUE_KINDS else 1 - float(np.mean(rows))
            out[kind] = {"pairs": len(rows), "accepted" if kind in TRUE_KINDS else
                         "caught": round(share, 3)}
    hard = [a for a, p in zip(accepted, pairs) if p.kind in KINDS]
    out["hard_caught"] = round(1 - float(np.mean(hard)), 3) if hard else None
    return out


def pick_threshold(scores: np.ndarray, pairs: Sequence[Pair]) -> float:
    """The cut that best meets both aims at once: the larger of (true paraphrases accepted /
    0.90) and (hard negatives caught / 0.95), at its smallest, is maximised."""
    true = np.array([p.kind in ("true", "paraphrase") for p in pairs])
    hard = np.array([p.kind in KINDS for p in pairs])
    best = (-1.0, 0.5)
    for t in np.unique(np.round(scores, 4)):
        acc = (scores[true] >= t).mean() / 0.90
        caught = (scores[hard] < t).mean() / 0.95
        best = max(best, (min(acc, caught), float(t)))
    return best[1]


def check(model: SupportModel, pairs: Sequence[Pair]) -> int:
    """The shipped judge on held-out pairs, as the pipeline runs it; prints the figures."""
    from rag.citations import SupportScorer

    scorer = SupportScorer(model)
    t0 = time.perf_counter()
    accepted = np.array([scorer.score(p.claim, p.chunk.text, published=p.chunk.published,
                                      title=p.chunk.title).supported for p in pairs])
    ms = (time.perf_counter() - t0) * 1000 / max(len(pairs), 1)
    print(json.dumps({"pairs": len(pairs), "ms_per_pair": round(ms, 2),
                      **figures(pairs, accepted)}, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.train_support", description=__doc__)
    ap.add_argument("--train", type=Path, default=TRAIN_DIR)
    ap.add_argument("--out", type=Path, default=SUPPORT_MODEL_PATH)
    ap.add_argument("--limit", type=int, help="only N questions, spread over the weeks")
    ap.add_argument("--cache", type=Path, default=Path(".newsrag/train"),
                    help="where the chunked training documents are kept between runs")
    ap.add_argument("--validation-weeks", type=int, default=VALIDATION_WEEKS)
    ap.add_argument("--kinds", default="logistic,trees,mlp",
                    help="the model kinds to compare (the best on validation is kept)")
    ap.add_argument("--check", action="store_true",
                    help="fit nothing: judge the validation weeks' pairs with the model file "
                         "--out as the pipeline does (rag.citations.SupportScorer), by kind")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if not train_folder_ok(args.train):
        return 2
    questions = load_questions(args.train)
    if args.limit:
        questions = questions[:: max(1, len(questions) // args.limit)][: args.limit]
    weeks = sorted({q["week"] for q in questions})
    val_weeks = set(weeks[-args.validation_weeks:])
    chunks = cached_chunks(args.train, {d for q in questions for d in q["gcs_doc_ids"]},
                           args.cache)
    fit_pairs, fit_counts = build_pairs([q for q in questions if q["week"] not in val_weeks],
                                        chunks)
    val_pairs, val_counts = build_pairs([q for q in questions if q["week"] in val_weeks], chunks)
    log(f"{len(fit_pairs)} fit pairs {dict(fit_counts)}, {len(val_pairs)} validation pairs "
        f"{dict(val_counts)}, {time.perf_counter() - t0:.0f} s")
    if args.check:
        return check(SupportModel.load(args.out), val_pairs)
    X, rules = features(fit_pairs)
    Xv, rules_v = features(val_pairs)
    vetoes, rates = pick_vetoes(fit_pairs, rules)
    veto = vetoed(rules, vetoes)  # the threshold's
    vetoes = sorted({*vetoes, *LATE_VETOES})
    veto_v = vetoed(rules_v, vetoes)  # the judge's, as shipped
    log(f"vetoes {vetoes} (rates on the fit weeks' true pairs {rates})")
    y = np.array([p.label for p in fit_pairs], dtype=float)
    qids = {q: i for i, q in enumerate(sorted({p.qid for p in fit_pairs}))}
    groups = np.array([qids[p.qid] for p in fit_pairs])
    log(f"features ready, {time.perf_counter() - t0:.0f} s")

    table: dict[str, Any] = {}
    best = None
    for kind in args.kinds.split(","):
        threshold = pick_threshold(np.where(veto, 0.0, out_of_fold(kind, X, y, groups)),
                                   fit_pairs)
        fitted = make_model(kind).fit(X, y)
        scorer = to_scorer(kind, fitted, SUPPORT_FEATURES)
        val_scores = np.where(veto_v, 0.0, scorer.predict_proba(Xv))
        fig = figures(val_pairs, val_scores >= threshold)
        table[kind] = {"threshold": round(threshold, 4), "validation": fig}
        log(f"{kind}: threshold {threshold:.4f} " + json.dumps(fig))
        # the aims' worst ratio; between equals, the more false claims caught
        worst = (min(fig["true"]["accepted"] / 0.90, fig["hard_caught"] / 0.95),
                 fig["hard_caught"])
        if best is None or worst > best[0]:
            best = (worst, kind, scorer, threshold)
    _, kind, scorer, threshold = best
    model = SupportModel(scorer, {"threshold": threshold, "vetoes": vetoes}, {
        "trained": {"pairs": len(fit_pairs), "weeks": [min(w for w in weeks if w not in val_weeks),
                                                       max(w for w in weeks if w not in val_weeks)],
                    "questions": dict(fit_counts)},
        "validation": {"pairs": len(val_pairs), "weeks": [min(val_weeks), max(val_weeks)],
                       "questions": dict(val_counts)},
        "rules_on_true_pairs": rates, "models": table, "chosen": kind, "seed": SEED,
        "limit": args.limit})
    model.save(args.out)
    log(f"wrote {args.out} ({args.out.stat().st_size} bytes) in {time.perf_counter() - t0:.0f} s")
    print(json.dumps(model.card, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
