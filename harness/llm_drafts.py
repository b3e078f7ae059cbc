"""A real local model's drafts, kept once and judged by any version of the citation checker.

    # 1. the drafts: the product's own path (retrieval, prompt, streamed draft), recorded
    python -m harness.llm_drafts collect --base-url http://127.0.0.1:PORT/v1 --model qwen0.5b \
        --limit 100 --out .newsrag/bench/llm_drafts_qwen0.5b.jsonl
    # 2. the verdicts: this checkout's CitationChecker, built as rag/pipeline.py builds it
    python -m harness.llm_drafts judge .newsrag/bench/llm_drafts_qwen0.5b.jsonl

`collect` opens the RealTime QA dev evaluation index the way `newsrag eval` does (built under
<data-dir>/eval/<key>/ on first use, reused after), asks each question through `NewsRAG.ask`
with the `openai` answerer wrapped so that the passages it was given and the pieces it streamed
are written down: one JSON line a question (id, question, gold answers, passages, pieces, draft).
A re-run appends only the questions the file does not hold yet.

`judge` replays each draft's pieces through `split_complete` and `CitationChecker.check` exactly
as the pipeline streams them (one renumbering per question) and counts, over the draft's
sentences: how many are kept as supported, how many of those contain a gold answer
(eval.metrics.phrase_in), and how many sentences that contained one were dropped. It runs in any
checkout: the rule-based checker (`CitationChecker(SupportScorer(embed), threshold)`, before
issue 38) and the learned one (`CitationChecker(SupportScorer(threshold=...))`) are both built
the way their pipeline built them, so the same drafts judged in two checkouts differ only by the
judge. See docs/generative.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import sys
import time
from pathlib import Path
from typing import Any

RTQA = Path(__file__).resolve().parents[2] / "shared" / "data" / "realtimeqa"


# ---------------------------------------------------------------- collect

class RecordingAnswerer:
    """The openai answerer, unchanged, with what it was given and what it streamed kept."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.name = inner.name
        self.complete = inner.complete
        self.calls: list[dict] = []

    def stream(self, question, passages, *, as_of, history=()):
        from rag.answerers.base import build_messages

        _, shown = build_messages(question, passages, as_of=as_of, history=history,
                                  budget_tokens=self.inner.context_tokens,
                                  encoding=self.inner.encoding)
        call = {"asked": question, "as_of": as_of.isoformat(), "passages_in_prompt": shown,
                "passages": [{**dataclasses.asdict(p.chunk), "score": p.score} for p in passages],
                "pieces": []}
        self.calls.append(call)
        for piece in self.inner.stream(question, passages, as_of=as_of, history=history):
            call["pieces"].append(piece)
            yield piece


def collect(args: argparse.Namespace) -> int:
    from eval.datasets import load_dataset, open_eval_index
    from rag.answerers.openai_compat import OpenAICompatAnswerer
    from rag.errors import NewsragError
    from rag.pipeline import NewsRAG
    from rag.settings import Settings

    settings = Settings.load({"data_dir": args.data_dir.resolve()})
    dataset = load_dataset("realtimeqa", args.questions, args.corpus).limit(args.limit)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = {json.loads(line)["id"] for line in args.out.read_text("utf-8").splitlines()
            if line.strip()} if args.out.exists() else set()
    todo = [q for q in dataset.questions if q.id not in done]
    print(f"collect: {len(todo)} questions to ask ({len(done)} already in {args.out})",
          file=sys.stderr)
    if not todo:
        return 0
    index, _ = open_eval_index(args.corpus, settings)
    try:
        index.embedder.embed_batch(["warm up"])
        inner = OpenAICompatAnswerer(args.base_url, args.model, context_tokens=settings.llm_context_tokens,
                                     timeout=args.timeout, encoding=settings.encoding)
        rec = RecordingAnswerer(inner)
        rag = NewsRAG(index, answerer=rec)
        with args.out.open("a", encoding="utf-8") as out:
            for i, q in enumerate(todo, 1):
                rec.calls.clear()
                t0 = time.perf_counter()
                row: dict[str, Any] = {"id": q.id, "question": q.question, "as_of": q.as_of,
                                       "gold_answers": list(q.answers), "model": args.model}
                try:
                    answer = rag.ask(q.question, as_of=q.as_of)
                    row["answer_then"] = answer.text  # the checker of the collecting checkout
                except NewsragError as e:  # an endpoint hiccup: kept, counted as an error
                    row["error"] = f"{type(e).__name__}: {e}"
                row["seconds"] = round(time.perf_counter() - t0, 1)
                call = rec.calls[-1] if rec.calls else {"passages": [], "pieces": []}
                row.update(call)
                row["draft"] = "".join(call["pieces"])
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                out.flush()
                print(f"[{i}/{len(todo)}] {q.id} {row['seconds']} s: {row['draft'][:100]!r}",
                      file=sys.stderr)
    finally:
        index.close()
    return 0


# ---------------------------------------------------------------- judge

def make_checker():
    """The CitationChecker of this checkout, built as its rag/pipeline.py builds it."""
    from rag.answerers.base import NOT_COVERED
    from rag.citations import CitationChecker, SupportScorer
    from rag.settings import Settings

    settings = Settings.load()
    if "threshold" in inspect.signature(CitationChecker).parameters:
        # the rule-based judge (before issue 38): lexical containment + MiniLM for the middle
        from rag.embedders import get_embedder

        embed = get_embedder(settings.embedder, settings.embedder_model).embed_batch
        threshold = settings.support_threshold
        return CitationChecker(SupportScorer(embed), threshold, keep_uncited=(NOT_COVERED,)), {
            "judge": "rule-based (SupportScorer(embed))", "threshold": threshold}
    scorer = SupportScorer(threshold=settings.support_threshold)
    return CitationChecker(scorer, keep_uncited=(NOT_COVERED,)), {
        "judge": "learned (SupportScorer(model))", "threshold": scorer.threshold}


def _passages(row: dict) -> list:
    from rag.types import Chunk, Passage

    names = {f.name for f in dataclasses.fields(Chunk)}
    return [Passage(Chunk(**{k: v for k, v in p.items() if k in names}), p.get("score", 0.0))
            for p in row["passages"]]


def judge_row(checker: Any, row: dict) -> list[dict]:
    """Each sentence of the draft: its text, markers, whether it was kept, attached, shown as."""
    from rag.answerers.base import NOT_COVERED
    from rag.citations import split_answer, split_complete

    passages = _passages(row)
    if not passages:
        return []
    renumber: dict[int, int] = {}
    out: list[dict] = []

    def verify(text: str) -> None:
        kept = [s for s in checker.check(text, passages, renumber).sentences]
        for sentence, nums in split_answer(text):
            item = {"text": sentence, "markers": nums, "abstention": sentence == NOT_COVERED,
                    "kept": False, "attached": False, "shown": None}
            if kept and (kept[0].text == sentence
                         or kept[0].text.startswith(sentence.rstrip(" .") + ": ")):
                s = kept.pop(0)
                item.update(kept=bool(s.supported), attached=bool(s.attached), shown=s.text,
                            support=round(float(s.support), 3))
            out.append(item)
        assert not kept, f"{row['id']}: unaligned kept sentences {[s.text for s in kept]}"

    pending = ""
    for piece in row["pieces"]:
        pending += piece
        done, pending = split_complete(pending)
        if done:
            verify(done)
    if pending.strip():
        verify(pending)
    return out


def summarize(rows: list[dict], verdicts: list[list[dict]]) -> dict[str, Any]:
    from eval.metrics import contains_answer

    def share(a: int, b: int) -> float | None:
        return round(a / b, 3) if b else None

    claims = kept = kept_right = kept_right_shown = dropped = dropped_right = 0
    attached = marked = abstentions = 0
    answers = answers_right = drafts = errors = 0
    for row, sentences in zip(rows, verdicts, strict=True):
        errors += "error" in row
        drafts += bool(row.get("draft", "").strip())
        gold = row["gold_answers"]
        kept_text = []
        for s in sentences:
            if s["abstention"]:
                abstentions += 1
                continue
            claims += 1
            marked += bool(s["markers"])
            right = bool(contains_answer(s["text"], gold))
            if s["kept"]:
                kept += 1
                kept_right += right
                kept_right_shown += bool(contains_answer(s["shown"], gold))
                attached += s["attached"]
                kept_text.append(s["text"])
            else:
                dropped += 1
                dropped_right += right
        if kept_text:
            answers += 1
            answers_right += bool(contains_answer(" ".join(kept_text), gold))
    right = kept_right + dropped_right
    return {
        "questions": len(rows), "errors": errors, "drafts": drafts,
        "sentences": claims, "abstention_sentences": abstentions,
        "sentences_with_markers": marked,
        "sentences_right": right, "sentences_right_share": share(right, claims),
        "kept": kept, "kept_share": share(kept, claims),
        "kept_attached": attached,
        "kept_right": kept_right, "kept_right_share": share(kept_right, kept),
        # the sentence as shown: a bare short answer is shown with the passage sentence
        "kept_right_shown_share": share(kept_right_shown, kept),
        "dropped": dropped, "dropped_right": dropped_right,
        "dropped_right_share": share(dropped_right, dropped),
        "right_lost_share": share(dropped_right, right),  # true claims lost, of all true ones
        "answers_with_kept": answers, "answers_with_kept_share": share(answers, len(rows)),
        "answers_right": answers_right, "answers_right_share": share(answers_right, answers),
    }


def judge(args: argparse.Namespace) -> int:
    checker, about = make_checker()
    rows = [json.loads(line) for line in args.drafts.read_text("utf-8").splitlines()
            if line.strip()]
    if args.limit:
        rows = rows[:args.limit]
    t0 = time.perf_counter()
    verdicts = [judge_row(checker, row) for row in rows]
    seconds = time.perf_counter() - t0
    result = {"drafts_file": str(args.drafts), **about, "judge_seconds": round(seconds, 1),
              **summarize(rows, verdicts)}
    if args.details:
        args.details.parent.mkdir(parents=True, exist_ok=True)
        with args.details.open("w", encoding="utf-8") as f:
            for row, sentences in zip(rows, verdicts, strict=True):
                f.write(json.dumps({"id": row["id"], "gold_answers": row["gold_answers"],
                                    "sentences": sentences}, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.llm_drafts", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="ask the model, record passages and drafts")
    c.add_argument("--base-url", required=True, help="the /v1 base of the chat endpoint")
    c.add_argument("--model", required=True, help="the model name sent (and recorded)")
    c.add_argument("--out", type=Path, required=True, help="JSON lines, appended to")
    c.add_argument("--limit", type=int, default=100, help="the first N dev questions")
    c.add_argument("--timeout", type=float, default=300.0, help="seconds a request")
    c.add_argument("--questions", type=Path, default=RTQA / "questions_dev.jsonl")
    c.add_argument("--corpus", type=Path, default=RTQA / "corpus.jsonl.gz")
    c.add_argument("--data-dir", type=Path, default=Path(".newsrag"),
                   help="the folder whose eval/ holds the evaluation index")
    j = sub.add_parser("judge", help="this checkout's checker over recorded drafts")
    j.add_argument("drafts", type=Path)
    j.add_argument("--limit", type=int, help="only the first N drafts")
    j.add_argument("--details", type=Path, help="write each sentence's verdict here (JSON lines)")
    args = p.parse_args(argv)
    return collect(args) if args.cmd == "collect" else judge(args)


if __name__ == "__main__":
    sys.exit(main())
