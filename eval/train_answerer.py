"""`make train`: fit the answer scorer on RealTime QA's 2023-2024 questions, tune its thresholds
on the last weeks, write rag/models/answerer.npz and print the figures of docs/answerer.md.

The dev questions (2022) are never read here. Each training question's passages are its own
web-search documents, chunked as an ingest chunks them and ranked by BM25 among themselves (the
top six, at most two an article, as retrieval hands the answerer). A sentence is a positive when
it holds a gold answer string. The first stage learns from every candidate; the second from the
first stage's best sixteen of each question, scored out of fold, with the embedder's closeness
in meaning. Thresholds (refusal, adding a sentence) are set on the validation weeks by running
the answerer itself over them.

    python -m eval.train_answerer [--train DIR] [--out FILE] [--compare] [--limit N]
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from eval.metrics import contains_answer, phrase_in
from rag.answer_features import (
    FIRST_FEATURES,
    MEANING_CANDIDATES,
    SECOND_FEATURES,
    Candidate,
    candidates,
    matrix,
    meaning_features,
    plain,
    term_weights,
)
from rag.answer_model import MODEL_PATH, AnswerModel, Scorer
from rag.bm25 import _term, terms_of
from rag.question import analyse
from rag.settings import Settings
from rag.types import Chunk, Passage

TRAIN_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "realtimeqa" / "train"
VALIDATION_WEEKS = 10  # the last ten weeks of the training questions
TOP_K, PER_ARTICLE = 6, 2  # the passages retrieval hands the answerer (Settings.top_k, cap)
SEED = 13
K1, B = 1.2, 0.75


# ------------------------------------------------------------------ data

@dataclass
class Example:
    """One training question with its passages and candidates."""
    qid: str
    week: str
    question: str
    golds: tuple[str, ...]
    as_of: date
    passages: list[Passage]
    held: bool = False  # a passage holds a gold string
    off_topic: bool = False  # its passages are another question's
    cands: list[Candidate] = field(default_factory=list)
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0))


def train_folder_ok(train: Path) -> bool:
    """The training folder holds what `make train` reads; says what it expects otherwise."""
    missing = [n for n in ("questions.jsonl", "corpus.jsonl.gz") if not (train / n).is_file()]
    if missing:
        log(f"newsrag train: error: {train} lacks {', '.join(missing)}: expected RealTime QA's "
            "train/ folder (../shared/data/realtimeqa/train/ beside the repository), or --train DIR")
    return not missing


def load_questions(train: Path) -> list[dict]:
    return [json.loads(line) for line in (train / "questions.jsonl").open(encoding="utf-8")]


def load_chunks(train: Path, wanted: set[str], settings: Settings) -> dict[str, list[Chunk]]:
    """The chunks of each wanted document, cut as an ingest cuts them."""
    from ingest.chunk import Chunker
    from ingest.loaders.records import check_mapping, make_article

    chunker = Chunker(settings.chunk_tokens, settings.chunk_overlap, settings.encoding)
    mapping = check_mapping(None)
    out: dict[str, list[Chunk]] = {}
    with gzip.open(train / "corpus.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec["doc_id"] not in wanted:
                continue
            art = make_article(rec, rec["doc_id"], mapping)
            if hasattr(art, "reason"):  # a Skip
                continue
            out[rec["doc_id"]] = chunker.chunk(art, chunker.max_tokens)
    return out


class PoolBM25:
    """BM25 of a question against a small pool of chunks, with the whole corpus's counts."""

    def __init__(self, all_chunks: Sequence[Chunk]):
        self.terms = {c.id: terms_of(c.text) for c in all_chunks}
        self.df: Counter[str] = Counter()
        for t in self.terms.values():
            self.df.update(t.keys())
        self.n = len(all_chunks)
        self.avgdl = sum(sum(t.values()) for t in self.terms.values()) / max(self.n, 1)

    def doc_freq(self, words: Sequence[str]) -> dict[str, int]:
        return {w: self.df.get(_term(w.lower()) or w.lower(), 0) for w in words}

    def top(self, question: str, pool: Sequence[Chunk]) -> list[Passage]:
        q = terms_of(question)
        scored = []
        for c in pool:
            tf = self.terms[c.id]
            dl = sum(tf.values())
            s = 0.0
            for t in q:
                if t in tf:
                    idf = math.log(1 + (self.n - self.df[t] + 0.5) / (self.df[t] + 0.5))
                    s += idf * tf[t] * (K1 + 1) / (tf[t] + K1 * (1 - B + B * dl / self.avgdl))
            scored.append((s, c))
        scored.sort(key=lambda x: -x[0])
        out, per = [], Counter()
        for s, c in scored:
            if s <= 0 or per[c.article_id] >= PER_ARTICLE:
                continue
            per[c.article_id] += 1
            out.append(Passage(c, s, {"bm25": s}))
            if len(out) == TOP_K:
                break
        return out


def build_examples(questions: list[dict], chunks: dict[str, list[Chunk]], bm25: PoolBM25,
                   off_topic: bool = False) -> list[Example]:
    """Each question over its own documents; with `off_topic`, also over the documents of a
    question of another week (what an index without the story hands the answerer: the
    answer is to refuse)."""
    def pool(q: dict) -> list[Chunk]:
        return [c for d in q["gcs_doc_ids"] for c in chunks.get(d, ())]

    out = [example(q, pool(q), bm25) for q in questions]
    if off_topic:
        n = len(questions)
        for i, q in enumerate(questions):
            other = questions[(i + n // 2) % n]
            if other["week"] != q["week"]:
                ex = example(q, pool(other), bm25)
                ex.off_topic = True
                out.append(ex)
    return out


def example(q: dict, pool: Sequence[Chunk], bm25: PoolBM25) -> Example:
    passages = bm25.top(q["question"], pool)
    golds = tuple(q["answer"])
    as_of = date.fromisoformat(q["question_date"].replace("/", "-"))
    ex = Example(q["question_id"], q["week"], q["question"], golds, as_of, passages)
    ex.held = any(phrase_in(g, p.chunk.text) for g in golds for p in passages)
    analysed = analyse(plain(q["question"]))
    weights = term_weights(analysed, bm25.doc_freq, bm25.n)
    ex.cands = candidates(analysed, passages, weights, as_of)
    ex.labels = np.array([float(any(phrase_in(g, c.text) for g in golds)) for c in ex.cands])
    return ex


# ------------------------------------------------------------------ embeddings, cached

class CachedEmbed:
    """The packaged embedder with a file cache keyed by text (training iterates; embedding is
    nearly all of its time)."""

    def __init__(self, path: Path):
        from rag.embedders import get_embedder

        self.path = path
        self.embedder = get_embedder("minilm")
        self.vectors: dict[bytes, np.ndarray] = {}
        if path.exists():
            with np.load(path) as z:
                self.vectors = dict(zip((bytes(k) for k in z["keys"]), z["vectors"]))
        self.added = 0

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.sha256(text.encode("utf-8")).digest()[:16]

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        keys = [self.key(t) for t in texts]
        todo = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in self.vectors))
        if todo:
            for t, v in zip(todo, self.embedder.embed_batch(todo)):
                self.vectors[self.key(t)] = v
            self.added += len(todo)
        return np.stack([self.vectors[k] for k in keys]) if keys else np.zeros((0, 384))

    def prefetch(self, texts: Sequence[str], batch: int = 512) -> None:
        todo = list(dict.fromkeys(t for t in texts if self.key(t) not in self.vectors))
        t0 = time.perf_counter()
        for i in range(0, len(todo), batch):
            self(todo[i:i + batch])
            done = min(i + batch, len(todo))
            rate = done / max(time.perf_counter() - t0, 1e-9)
            print(f"  embedded {done}/{len(todo)} ({rate:.0f}/s)", file=sys.stderr, flush=True)
            if done % (batch * 8) == 0:
                self.save()
        self.save()

    def save(self) -> None:
        if not self.added:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array([list(k) for k in self.vectors], dtype=np.uint8)
        vecs = np.stack(list(self.vectors.values())).astype(np.float32)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        np.savez(tmp, keys=keys, vectors=vecs)
        tmp.replace(self.path)
        self.added = 0


# ------------------------------------------------------------------ models

def make_model(name: str, seed: int = SEED):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "trees":
        return HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, max_leaf_nodes=15,
                                              min_samples_leaf=40, l2_regularization=1.0,
                                              random_state=seed)
    if name == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000))
    if name == "mlp":
        return make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), alpha=1e-3,
                                                             max_iter=300, random_state=seed))
    raise ValueError(name)


def to_scorer(name: str, fitted: Any, features: tuple[str, ...]) -> Scorer:
    if name == "trees":
        return Scorer.from_sklearn(fitted, features)
    scaler, model = fitted.steps[0][1], fitted.steps[-1][1]
    return Scorer.from_sklearn(model, features, scaler)


def out_of_fold(name: str, X: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int = 5
                ) -> np.ndarray:
    """Each row scored by a model that did not see its question."""
    from sklearn.model_selection import GroupKFold

    out = np.zeros(len(y))
    for fit_rows, score_rows in GroupKFold(n_splits=folds).split(X, y, groups):
        m = make_model(name).fit(X[fit_rows], y[fit_rows])
        out[score_rows] = m.predict_proba(X[score_rows])[:, 1]
    return out


def second_rows(examples: Sequence[Example], first: Sequence[np.ndarray], embed: CachedEmbed
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The second stage's rows: each question's best first-stage candidates, with meaning."""
    X, y, g = [], [], []
    for n, (ex, f) in enumerate(zip(examples, first)):
        if not ex.cands:
            continue
        top = np.argsort(-f, kind="stable")[:MEANING_CANDIDATES]
        best = [ex.cands[i] for i in top]
        titles = [ex.passages[c.passage - 1].chunk.title for c in best]
        meaning_features(analyse(plain(ex.question)).text, best, f[top], embed, titles)
        X.append(matrix(best, SECOND_FEATURES))
        y.append(ex.labels[top])
        g.append(np.full(len(top), n))
    return np.concatenate(X), np.concatenate(y), np.concatenate(g)


# ------------------------------------------------------------------ validation

def answer_figures(examples: Sequence[Example], answerer: Any) -> dict[str, float]:
    """Gold in the answer (all, and where the passages hold it), refusals where they hold it."""
    off = [ex for ex in examples if ex.off_topic]
    examples = [ex for ex in examples if not ex.off_topic]
    n, n_held = max(len(examples), 1), max(sum(ex.held for ex in examples), 1)
    got = got_held = refused_held = answered = 0
    refused_off = sum(not answerer.answer(ex.question, ex.passages, ex.as_of)[0] for ex in off)
    for ex in examples:
        picked, _ = answerer.answer(ex.question, ex.passages, ex.as_of)
        right = contains_answer(" ".join(s.text for s in picked), ex.golds) if picked else 0.0
        got += right
        answered += bool(picked)
        if ex.held:
            got_held += right
            refused_held += not picked
    return {
        "questions": len(examples), "passages_hold": sum(ex.held for ex in examples) / n,
        "contains_gold": got / n, "captured": got_held / n_held,
        "refused_where_held": refused_held / n_held, "answered": answered / n,
        "refused_off_topic": refused_off / max(len(off), 1),
    }


def tune(examples: Sequence[Example], model: AnswerModel, embed: CachedEmbed,
         doc_freq: Any, total: int, max_refused: float = 0.05) -> dict[str, Any]:
    """The refusal threshold: the highest that refuses at most `max_refused` of the questions
    whose passages hold the answer; then the adding threshold and the number of sentences that
    capture the most gold on the validation weeks."""
    from rag.answerers.learned import LearnedAnswerer

    def answerer(settings: dict) -> LearnedAnswerer:
        m = AnswerModel(model.first, model.second, settings, model.card)
        return LearnedAnswerer(embed=embed, doc_freq=doc_freq, total_docs=lambda: total,
                                  model=m)

    probe = answerer({"abstain_below": 0.0, "add_at_least": 1.1, "max_sentences": 1})
    leads = [(ex, probe.score(ex.question, ex.passages, ex.as_of)) for ex in examples]
    held_p = sorted(r[0].p if r else 0.0 for ex, r in leads if ex.held and not ex.off_topic)
    cut = math.floor(max_refused * len(held_p))
    abstain = float(held_p[cut]) - 1e-9 if held_p else 0.5
    rows = []
    for add in (0.1, 0.2, 0.3, 0.4, 0.5, 1.1):
        for n in (2, 3):
            s = {"abstain_below": abstain, "add_at_least": add, "max_sentences": n}
            fig = answer_figures(examples, answerer(s))
            rows.append((fig["contains_gold"], -n, -add, s, fig))
    # the fewest, surest sentences within 0.01 of the most gold captured: no padding
    best = max(r[0] for r in rows)
    rows.sort(key=lambda r: (r[0] >= best - 0.01, -r[1] == 2, -r[2]), reverse=True)
    return {"settings": rows[0][3], "figures": rows[0][4],
            "grid": [{**r[3], **r[4]} for r in rows]}


# ------------------------------------------------------------------ main

def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.train_answerer", description=__doc__)
    ap.add_argument("--train", type=Path, default=TRAIN_DIR)
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    ap.add_argument("--cache", type=Path, default=Path(".newsrag/train/embeddings.npz"))
    ap.add_argument("--limit", type=int, help="only N questions, spread over the weeks")
    ap.add_argument("--compare", action="store_true",
                    help="also measure the other model kinds (the table of docs/answerer.md)")
    ap.add_argument("--model", default="trees", choices=("trees", "logistic", "mlp"),
                    help="the kind of scorer (without --compare)")
    ap.add_argument("--validation-weeks", type=int, default=VALIDATION_WEEKS)
    args = ap.parse_args(argv)
    # as the CLI does: spinning OpenMP threads slow torch tenfold when the cores are shared
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    if not train_folder_ok(args.train):
        return 2
    settings = Settings()
    questions = load_questions(args.train)
    if args.limit:  # every k-th question: the weeks stay spread, the last ones validate
        questions = questions[:: max(1, len(questions) // args.limit)][: args.limit]
    weeks = sorted({q["week"] for q in questions})
    val_weeks = set(weeks[-args.validation_weeks:])
    wanted = {d for q in questions for d in q["gcs_doc_ids"]}
    chunks = load_chunks(args.train, wanted, settings)
    bm25 = PoolBM25([c for cs in chunks.values() for c in cs])
    # the off-topic examples pair questions within their own split: no validation document
    # reaches the fit, even as a negative
    fit = build_examples([q for q in questions if q["week"] not in val_weeks], chunks, bm25,
                         off_topic=True)
    val = build_examples([q for q in questions if q["week"] in val_weeks], chunks, bm25,
                         off_topic=True)
    examples = fit + val
    log(f"{len(questions)} questions ({sum(not e.off_topic for e in fit)} fit, "
        f"{sum(not e.off_topic for e in val)} validation: weeks "
        f"{min(val_weeks)}..{max(val_weeks)}), {bm25.n} chunks, "
        f"{sum(len(e.cands) for e in examples)} candidates, {time.perf_counter() - t0:.0f} s")
    embed = CachedEmbed(args.cache)
    embed.prefetch(_meaning_texts(examples))
    log(f"embeddings ready, {time.perf_counter() - t0:.0f} s")

    # --compare fits every kind and keeps the one that puts the gold answer in the most answers
    # on the validation weeks (ties: the order below)
    kinds = ("trees", "logistic", "mlp") if args.compare else (args.model,)
    table, best = {}, None
    for kind in kinds:
        model, figures = fit_and_tune(kind, fit, val, embed, bm25)
        table[kind] = figures
        log(f"{kind}: " + json.dumps(figures["validation"]))
        if best is None or figures["validation"]["contains_gold"] > best[0]:
            best = (figures["validation"]["contains_gold"], kind, model)
    _, chosen_kind, chosen = best
    card = {
        "trained": {"questions": sum(not e.off_topic for e in fit),
                    "off_topic_examples": sum(e.off_topic for e in fit), "weeks": [min(w for w in weeks if w not in val_weeks),
                                                     max(w for w in weeks if w not in val_weeks)],
                    "candidates": sum(len(e.cands) for e in fit),
                    "positives": int(sum(e.labels.sum() for e in fit))},
        "validation": {"questions": sum(not e.off_topic for e in val),
                       "off_topic_examples": sum(e.off_topic for e in val),
                       "weeks": [min(val_weeks), max(val_weeks)]},
        "models": table, "chosen": chosen_kind, "seed": SEED, "limit": args.limit,
    }
    chosen.card = card
    chosen.save(args.out)
    log(f"wrote {args.out} ({args.out.stat().st_size} bytes) in "
        f"{time.perf_counter() - t0:.0f} s")
    print(json.dumps(card, indent=2))
    return 0


def fit_and_tune(kind: str, fit: list[Example], val: list[Example], embed: CachedEmbed,
                 bm25: PoolBM25) -> tuple[AnswerModel, dict]:
    X1 = np.concatenate([matrix(e.cands, FIRST_FEATURES) for e in fit if e.cands])
    y1 = np.concatenate([e.labels for e in fit if e.cands])
    g1 = np.concatenate([np.full(len(e.cands), i) for i, e in enumerate(fit) if e.cands])
    oof = out_of_fold(kind, X1, y1, g1)
    first_model = make_model(kind).fit(X1, y1)
    per_q, at = [], 0
    for e in fit:
        per_q.append(oof[at:at + len(e.cands)])
        at += len(e.cands)
    X2, y2, _ = second_rows(fit, per_q, embed)
    second_model = make_model(kind).fit(X2, y2)
    model = AnswerModel(to_scorer(kind, first_model, FIRST_FEATURES),
                        to_scorer(kind, second_model, SECOND_FEATURES), {})
    tuned = tune(val, model, embed, bm25.doc_freq, bm25.n)
    model.settings = tuned["settings"]
    return model, {"validation": tuned["figures"], "settings": tuned["settings"],
                   "rows_first": len(y1), "rows_second": len(y2)}


def _meaning_texts(examples: Sequence[Example]) -> list[str]:
    """Every text the second stage may embed: the questions, each candidate's opening words,
    the headlines (all candidates: the first stage's choice changes as it is refitted)."""
    from rag.answer_features import meaning_text

    out = []
    for e in examples:
        out.append(analyse(plain(e.question)).text)
        out.extend(meaning_text(c.text) for c in e.cands)
        out.extend(p.chunk.title for p in e.passages if p.chunk.title)
    return out


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
