"""`newsrag eval`: run a dataset through retrieval, answering and grounding; compare two runs."""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval import metrics as M
from eval.datasets import (
    INDEX_SETTINGS,
    Dataset,
    DatasetError,
    EvalQuestion,
    gold_doc_units,
    index_key,
    load_dataset,
    open_eval_index,
)
from eval.grounding import (
    aggregate,
    build_check_set,
    check_judge,
    cited_sentences,
    get_judge,
    ground,
)
from rag.errors import NewsragError
from rag.settings import Settings

MODES = ("hybrid", "dense", "lexical")
K = 10


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="newsrag eval", description=__doc__)
    p.add_argument("--dataset", default="jsonl", help="jsonl (default) | realtimeqa | multihop")
    p.add_argument("--questions", type=Path, help="the question file")
    p.add_argument("--corpus", type=Path, help="the corpus: any file or folder newsrag ingests")
    p.add_argument("--out", type=Path, help="output prefix: writes PREFIX.json, .md and .png")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--answerer", help="extractive | openai | llamacpp (default: the setting)")
    p.add_argument("--judge", help="learned | llm | nli (default: the setting)")
    p.add_argument("--judge-threshold", type=float, help="the learned judge's threshold (default: its own)")
    p.add_argument("--retrieval", default="hybrid", choices=MODES, help="retrieval mode")
    p.add_argument("--no-answers", action="store_true", help="retrieval metrics only")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--seed", type=int, default=13, help="seed of the judge check's negatives")
    p.add_argument("--compare", nargs=2, type=Path, metavar=("A.json", "B.json"),
                   help="show the differences between two runs")
    # also accepted here: `newsrag` may pass them on when they follow eval's own options
    p.add_argument("--data-dir", type=Path, help="index folder; the eval index goes in DIR/eval/")
    p.add_argument("--embedder", help="embedder name (minilm, minilm-int8)")
    p.add_argument("--vectors", action="append", type=Path, metavar="FILE",
                   help="a vector file to reuse when building the index (repeatable; default: "
                        "the vectors-*.npz beside the corpus that match the embedder)")
    return p


def main(rest: Sequence[str], settings: Settings) -> int:
    args = build_parser().parse_args(list(rest))
    changes = {k: v for k, v in (("data_dir", args.data_dir), ("embedder", args.embedder)) if v}
    if args.vectors:
        changes["vector_files"] = tuple(str(p) for p in args.vectors)
    settings = settings.replace(**changes) if changes else settings
    from eval.report import compare_runs, write_report

    if args.compare:
        a, b = (_read_run(p) for p in args.compare)
        print(compare_runs(a, b, names=tuple(str(p) for p in args.compare)))
        return 0
    if not args.questions or not args.corpus:
        raise DatasetError("newsrag eval needs --questions and --corpus (or --compare A B); "
                           "e.g. --dataset realtimeqa --questions questions_dev.jsonl "
                           "--corpus corpus.jsonl.gz")
    dataset = load_dataset(args.dataset, args.questions, args.corpus).limit(args.limit)
    if args.judge_threshold is not None:
        settings = settings.replace(extra={**settings.extra, "judge_threshold": args.judge_threshold})
    run = evaluate(
        dataset, settings,
        answerer=args.answerer or settings.answerer,
        judge_name=args.judge or settings.judge,
        mode=args.retrieval,
        answers=not args.no_answers,
        progress=not args.no_progress,
        seed=args.seed,
    )
    run["dataset"]["questions_path"] = str(args.questions)
    out = args.out or Path("docs/eval") / dataset.name
    paths = write_report(run, out)
    print(summary_line(run))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _read_run(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text("utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"No such run file: {path}") from None
    except ValueError as e:
        raise DatasetError(f"{path} is not a run's JSON file: {e}") from None


# ---------------------------------------------------------------- the run

def evaluate(
    dataset: Dataset,
    settings: Settings,
    *,
    answerer: str = "extractive",
    judge_name: str = "learned",
    mode: str = "hybrid",
    answers: bool = True,
    progress: bool = True,
    seed: int = 13,
    judge: Any = None,
    transform_answer: Any = None,
) -> dict[str, Any]:
    """Every metric of one dataset under one configuration, as a JSON-ready dict.

    `judge` overrides the judge picked by name; `transform_answer(answer, rag)` lets a test
    swap in a deliberately bad answerer built from the real answers.
    """
    from rag.pipeline import NewsRAG

    _check_run(dataset, mode)
    settings = settings.replace(answerer=answerer)
    index, ingest_report, build_seconds = _warm_index(dataset, settings, progress)
    try:
        rag = NewsRAG(index)
        if judge is None and answers:
            judge = get_judge(judge_name, settings)
        questions = dataset.questions
        rows = [evaluate_question(q, rag, index.catalog, mode=mode, judge=judge, answers=answers,
                                  transform_answer=transform_answer)
                for q in _bar(questions, progress, "questions")]
        check = _judge_check(judge, index.catalog, questions, seed) if answers else {}
        run = {
            "version": 1,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "dataset": {"name": dataset.name, "corpus": str(dataset.corpus),
                        "questions": len(questions), "notes": dataset.notes},
            "settings": _run_settings(settings, index, rag, mode=mode, answers=answers,
                                      answerer=answerer, judge=judge, judge_name=judge_name),
            "index": _index_facts(dataset, settings, index, ingest_report, build_seconds),
            "metrics": summarize(rows, check),
            "rows": rows,
        }
        run["failures"] = worst_failures(rows)
        _drop_passages(rows)
        return run
    finally:
        index.close()


def _warm_index(dataset: Dataset, settings: Settings, progress: bool) -> tuple[Any, Any, float]:
    """The dataset's index, built or reused, with its model loaded: (index, the ingest's
    report, the seconds both took)."""
    t0 = time.perf_counter()
    index, ingest_report = open_eval_index(dataset.corpus, settings, _ingest_bar(progress))
    # the model loads on first use: here, so that no question's retrieve_ms includes it
    index.embedder.embed_batch(["warm up"])
    return index, ingest_report, time.perf_counter() - t0


def _drop_passages(rows: list[dict[str, Any]]) -> None:
    """Passage texts stay out of the files: the failures carry excerpts."""
    for r in rows:
        for c in r.get("citations", []):
            c.pop("passage", None)


def _check_run(dataset: Dataset, mode: str) -> None:
    """DatasetError for an unknown retrieval mode or a dataset without a corpus."""
    if mode not in MODES:
        raise DatasetError(f"Unknown retrieval mode {mode!r}. Valid modes are: {list(MODES)}")
    if dataset.corpus is None:
        raise DatasetError(f"The {dataset.name} dataset has no corpus: pass --corpus. "
                           + dataset.notes)


def _judge_check(judge: Any, catalog: Any, questions: Sequence[EvalQuestion],
                 seed: int) -> dict:
    """The judge's own check on pairs built from the gold documents ({} without a judge)."""
    if judge is None:
        return {}
    pairs = build_check_set(catalog, questions, lambda q: gold_doc_units(catalog, q), seed=seed)
    return check_judge(judge, pairs)


def _run_settings(settings: Settings, index: Any, rag: Any, *, mode: str, answers: bool,
                  answerer: str, judge: Any, judge_name: str) -> dict[str, Any]:
    """The run's "settings": the index's own, and the retrieval's, answerer's and judge's."""
    return {
        **{n: getattr(index.settings, n) for n in INDEX_SETTINGS},
        "retrieval": mode, "k": K,
        "answer_retrieval": (mode if _ask_takes_mode(rag) else "hybrid") if answers
        else None,
        "answerer": answerer if answers else None,
        "judge": getattr(judge, "name", judge_name) if answers else None,
        "judge_threshold": getattr(judge, "threshold", None),
        "top_k": settings.top_k, "candidates": settings.candidates,
        "per_article_cap": settings.per_article_cap,
        "reranker_model": settings.reranker_model,
        "support_threshold": settings.support_threshold,
    }


def _index_facts(dataset: Dataset, settings: Settings, index: Any, ingest_report: Any,
                 build_seconds: float) -> dict[str, Any]:
    """The run's "index": its key and folder, its counts, and how long it took to build."""
    return {
        "key": index_key(dataset.corpus, settings), "dir": str(index.settings.data_dir),
        **index.catalog.counts(), "build_seconds": round(build_seconds, 1),
        "reused": ingest_report.ingested + ingest_report.updated == 0,
        "vector_files": list(index.settings.vector_files),
        "vectors_reused": ingest_report.vectors_reused,
        "vectors_embedded": ingest_report.vectors_embedded,
    }


def evaluate_question(q: EvalQuestion, rag, catalog, *, mode: str, judge, answers: bool,
                      transform_answer=None) -> dict[str, Any]:
    t0 = time.perf_counter()
    passages = rag.retrieve(q.question, k=K, as_of=q.as_of, mode=mode)
    retrieve_ms = (time.perf_counter() - t0) * 1000
    row: dict[str, Any] = {"id": q.id, "question": q.question, "as_of": q.as_of,
                           "gold_answers": list(q.answers), "kind": q.kind,
                           "retrieve_ms": round(retrieve_ms, 1)}
    docs = M.first_occurrences(p.chunk.article_id for p in passages)
    row["retrieved"] = [{"chunk_id": p.chunk.id, "article_id": p.chunk.article_id,
                         "title": p.chunk.title} for p in passages]
    if q.has_doc_gold:
        units = gold_doc_units(catalog, q)
        covers = [{str(i) for i, u in enumerate(units) if d in u} for d in docs]
        row["doc"] = M.ranking_metrics(covers, len(units))
        row["doc"]["curve"] = [M.recall_at(covers, len(units), k) for k in range(1, K + 1)]
        row["gold_docs"] = {"given": len(q.gold_doc_ids) + len(q.gold_titles),
                            "distinct": len(units), "indexed": sum(bool(u) for u in units)}
        row["doc_hits"] = [bool(c) for c in covers]
    if q.gold_evidence:
        covers = [M.facts_in(p.chunk.text, q.gold_evidence) for p in passages]
        row["passage"] = M.ranking_metrics(covers, len(q.gold_evidence))
        row["passage"]["curve"] = [
            M.recall_at(covers, len(q.gold_evidence), k) for k in range(1, K + 1)]
    if answers:
        try:
            row.update(answer_row(q, rag, judge, mode, transform_answer))
        except NewsragError as e:  # one failed answer (an endpoint hiccup) must not end the run
            row.update(answer="", abstained=False, error=f"{type(e).__name__}: {e}", citations=[],
                       ask_ms=0.0, em=0.0, contains=0.0, f1=0.0)
            if q.choices:
                row.update(choice_pick=None, choice_correct=0.0)
    return row


def _ask_takes_mode(rag) -> bool:
    """Whether NewsRAG.ask accepts a retrieval mode (it passes **kw on to _events)."""
    import inspect

    for fn in (rag.ask, getattr(rag, "_events", None)):
        if fn is not None and "mode" in inspect.signature(fn).parameters:
            return True
    return False


def answer_row(q: EvalQuestion, rag, judge, mode: str = "hybrid",
               transform_answer=None) -> dict[str, Any]:
    t0 = time.perf_counter()
    kw = {"mode": mode} if _ask_takes_mode(rag) else {}
    answer = rag.ask(q.question, as_of=q.as_of, **kw)
    ask_ms = (time.perf_counter() - t0) * 1000
    if transform_answer is not None:
        answer = transform_answer(answer, rag)
    text = "" if answer.abstained else " ".join(s.text for s in answer.sentences)
    row: dict[str, Any] = {"answer": answer.text, "abstained": answer.abstained,
                           "ask_ms": round(ask_ms, 1),
                           # sentences the answerer left unmarked, given their passage by the checker
                           "attached": 0 if answer.abstained else sum(
                               bool(s.attached) for s in answer.sentences)}
    if q.unanswerable:
        ok = float(answer.abstained)
        row.update(em=ok, contains=ok, f1=ok)
    elif q.answers:
        row.update(em=M.exact_match(text, q.answers), contains=M.contains_answer(text, q.answers),
                   f1=M.token_f1(text, q.answers),
                   # the passages the answerer was given hold a gold answer: what it could say
                   passages_hold=float(any(M.contains_answer(p.chunk.text, q.answers)
                                           for p in answer.passages)))
    if q.choices:
        pick = M.picked_choice(text, q.choices)
        row["choice_pick"] = pick
        row["choice_correct"] = float(pick is not None and pick in q.answer_index)
    row["citations"] = [{"number": c.number, "title": c.title, "article_id": c.article_id,
                         "chunk_id": c.chunk_id, "passage": c.passage} for c in answer.citations]
    if not answer.abstained:
        g = ground(cited_sentences(answer), judge)
        row["grounding"] = g.to_dict() | {"per_sentence": [
            {k: v for k, v in s.items() if k != "text"} for s in g.rows]}
    return row


# ---------------------------------------------------------------- summaries

def _mean_of(rows: list[dict], section: str, key: str) -> float | None:
    return M.mean(r[section][key] for r in rows if section in r)


def summarize(rows: list[dict], check: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for section in ("doc", "passage"):
        have = [r for r in rows if section in r]
        if not have:
            continue
        keys = [k for k in have[0][section] if k != "curve"]
        out[f"retrieval_{section}"] = {"questions": len(have)} | {
            k: M.mean(r[section][k] for r in have) for k in keys} | {
            "curve": [M.mean(r[section]["curve"][i] for r in have) for i in range(K)]}
    answered = [r for r in rows if "abstained" in r]
    if answered:
        scored = [r for r in answered if "em" in r]
        out["answers"] = {
            "questions": len(answered),
            "exact_match": M.mean(r["em"] for r in scored),
            "contains_gold": M.mean(r["contains"] for r in scored),
            "token_f1": M.mean(r["f1"] for r in scored),
            "abstention_rate": M.abstention_rate([r["abstained"] for r in answered]),
            "errors": sum("error" in r for r in answered),
            # answers with at least one sentence the answerer gave no marker (the checker found
            # its passage), and the share of all shown sentences that were such
            "attached_answers": M.mean(float(r.get("attached", 0) > 0) for r in answered
                                       if not r["abstained"]),
        }
        with_docs = [r for r in scored if "doc" in r]
        if with_docs:  # the questions with gold documents (RealTime QA's 103 of 329)
            out["answers"]["contains_gold_gold_doc_questions"] = M.mean(
                r["contains"] for r in with_docs)
        held = [r for r in scored if r.get("passages_hold")]
        if held:
            out["answers"].update({
                "passages_hold": M.mean(r.get("passages_hold", 0.0) for r in scored),
                # of the questions whose given passages hold the gold answer: in the answer,
                # and refused
                "captured": M.mean(r["contains"] for r in held),
                "refused_where_held": M.mean(float(r["abstained"]) for r in held),
            })
        mc = [r for r in answered if "choice_correct" in r]
        if mc:
            out["multiple_choice"] = {
                "questions": len(mc),
                "choice_supported": M.mean(r["choice_correct"] for r in mc),
                "no_choice": sum(r["choice_pick"] is None for r in mc) / len(mc),
            }
        out["grounding"] = aggregate_rows([r["grounding"] for r in answered if "grounding" in r])
    if check:
        out["judge_check"] = check
    out["timing"] = {
        "retrieve_ms_median": _median(r["retrieve_ms"] for r in rows),
        "retrieve_ms_p95": _p95([r["retrieve_ms"] for r in rows]),
        "ask_ms_median": _median(r["ask_ms"] for r in answered),
        "ask_ms_p95": _p95([r["ask_ms"] for r in answered]),
    }
    return out


def aggregate_rows(gs: list[dict]) -> dict[str, Any]:
    """The grounding aggregate, rebuilt from the per-answer dicts stored in the rows."""
    from eval.grounding import Grounding

    return aggregate([Grounding(g["sentences"], g["cited"], g["supported"], g["citations"],
                                g["precise"]) for g in gs])


def _median(values) -> float | None:
    vals = list(values)
    return round(statistics.median(vals), 1) if vals else None


def _p95(vals: list[float]) -> float | None:
    if not vals:
        return None
    vals = sorted(vals)
    return round(vals[min(len(vals) - 1, int(0.95 * len(vals)))], 1)


def failure_score(r: dict) -> tuple:
    """Lower is worse: wrong answers first, then missed gold documents, then weak grounding."""
    correct = max(r.get("contains", 0.0) or 0.0, r.get("choice_correct", 0.0) or 0.0)
    recall = r["doc"]["recall@10"] if "doc" in r else 1.0
    grounded = (r.get("grounding") or {}).get("citation_recall")
    return (correct, recall, 1.0 if grounded is None else grounded)


def worst_failures(rows: list[dict], n: int = 10, excerpt: int = 300) -> list[dict]:
    """The n worst questions, with short excerpts of the passages their answers cite."""
    bad = [r for r in rows if "abstained" in r and failure_score(r) < (1.0, 1.0, 1.0)]
    out = []
    for r in sorted(bad, key=failure_score)[:n]:
        out.append({
            "id": r["id"], "question": r["question"], "gold": r["gold_answers"],
            "answer": r["answer"], "abstained": r["abstained"],
            "doc_recall@10": r["doc"]["recall@10"] if "doc" in r else None,
            "citation_recall": (r.get("grounding") or {}).get("citation_recall"),
            "cited": [{"number": c["number"], "title": c["title"],
                       "excerpt": _excerpt(c["passage"], excerpt)} for c in r["citations"]],
        })
    return out


def _excerpt(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rsplit(" ", 1)[0] + "…"


def summary_line(run: dict) -> str:
    m = run["metrics"]
    parts = [f"{run['dataset']['name']}: {run['dataset']['questions']} questions"]
    if "retrieval_doc" in m:
        d = m["retrieval_doc"]
        parts.append(f"doc R@1 {d['recall@1']:.3f} R@5 {d['recall@5']:.3f} "
                     f"R@10 {d['recall@10']:.3f} MRR@10 {d['mrr@10']:.3f}")
    if "answers" in m and m["answers"]["contains_gold"] is not None:
        parts.append(f"answer contains gold {m['answers']['contains_gold']:.3f}")
    if "multiple_choice" in m:
        parts.append(f"choice {m['multiple_choice']['choice_supported']:.3f}")
    g = m.get("grounding") or {}
    if g.get("citation_recall") is not None:
        parts.append(f"citation recall {g['citation_recall']:.3f} "
                     f"precision {g['citation_precision'] or 0:.3f}")
    return " | ".join(parts)


# ---------------------------------------------------------------- progress

def _bar(items, enabled: bool, unit: str):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, unit=f" {unit}", file=sys.stderr, dynamic_ncols=True)


def _ingest_bar(enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    state: dict[str, Any] = {}

    def progress(n_articles: int, n_chunks: int) -> None:
        if "bar" not in state:
            state["bar"] = tqdm(unit=" articles", desc="indexing the corpus", file=sys.stderr,
                                dynamic_ncols=True)
        state["bar"].update(n_articles)

    return progress
