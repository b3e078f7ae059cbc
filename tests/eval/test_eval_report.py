"""Report files from a fake run (hand-made rows), comparing runs, and the CLI's edges."""
import copy
import json

import pytest

from eval.cli import main, summarize, worst_failures
from eval.datasets import DatasetError
from eval.report import compare_runs, flatten, render_markdown, write_report
from rag.settings import Settings


def _row(qid, recall10, contains, choice, cite_recall, abstained=False):
    curve = [recall10] * 10
    return {
        "id": qid, "question": f"Question {qid}?", "as_of": "2022-06-16", "kind": "",
        "gold_answers": ["gold"], "retrieve_ms": 10.0, "ask_ms": 20.0,
        "retrieved": [], "doc": {"recall@1": recall10, "recall@5": recall10,
                                 "recall@10": recall10, "mrr@10": recall10,
                                 "map@10": recall10, "ndcg@10": recall10, "curve": curve},
        "answer": "An answer [1].", "abstained": abstained, "em": 0.0, "contains": contains,
        "f1": contains, "choice_pick": 0 if choice else None, "choice_correct": choice,
        "citations": [{"number": 1, "title": "A title", "article_id": "a1", "chunk_id": "a1-0",
                       "passage": "Some passage text. " * 30}],
        "grounding": {"sentences": 2, "cited": 2, "supported": int(2 * cite_recall),
                      "citations": 2, "precise": int(2 * cite_recall),
                      "cited_share": 1.0, "citation_recall": cite_recall,
                      "citation_precision": cite_recall,
                      "unsupported_share": 1 - cite_recall},
    }


def fake_run(rows):
    return {
        "version": 1, "created": "2026-11-24T00:00:00+00:00",
        "dataset": {"name": "fake", "corpus": "/tmp/corpus", "questions": len(rows), "notes": ""},
        "settings": {"embedder": "minilm", "retrieval": "hybrid", "answerer": "extractive",
                     "judge": "lexical", "judge_threshold": 0.5},
        "index": {"key": "k", "dir": "/tmp/x", "articles": 3, "chunks": 9, "duplicates": 1,
                  "files": 1, "pending": 0, "build_seconds": 0.1, "reused": True},
        "metrics": summarize(rows, {"judge": "lexical", "pairs": 4, "accuracy": 0.75,
                                    "precision": 1.0, "recall": 0.5}),
        "rows": rows, "failures": worst_failures(rows),
    }


ROWS = [_row("q1", 1.0, 1.0, 1.0, 1.0), _row("q2", 0.0, 0.0, 0.0, 0.5),
        _row("q3", 1.0, 0.0, 1.0, 0.0)]


def test_summary_of_hand_made_rows():
    m = fake_run(ROWS)["metrics"]
    assert m["retrieval_doc"]["questions"] == 3
    assert m["retrieval_doc"]["recall@10"] == pytest.approx(2 / 3)
    assert m["answers"]["contains_gold"] == pytest.approx(1 / 3)
    assert m["multiple_choice"]["choice_supported"] == pytest.approx(2 / 3)
    assert m["multiple_choice"]["no_choice"] == pytest.approx(1 / 3)
    # per-answer recall 1, 0.5, 0 -> macro 0.5; 2 + 1 + 0 = 3 of 6 sentences supported
    assert m["grounding"]["citation_recall"] == pytest.approx(0.5)
    assert m["grounding"]["micro_citation_recall"] == pytest.approx(3 / 6)
    assert m["grounding"]["supported_sentences"] == 3
    assert m["timing"]["retrieve_ms_median"] == 10.0


def test_attached_sentences_are_counted_per_answer():
    rows = copy.deepcopy(ROWS) + [_row("q4", 1.0, 1.0, 1.0, 1.0, abstained=True)]
    rows[0]["attached"], rows[1]["attached"], rows[3]["attached"] = 2, 0, 0
    m = summarize(rows, {})["answers"]
    assert m["attached_answers"] == pytest.approx(1 / 3)  # of the 3 answered, abstention apart
    assert "| answers with an attached sentence |" in render_markdown(fake_run(rows))


def test_worst_failures_order():
    # q2 (wrong answer, gold doc missed) before q3 (wrong answer, gold doc found); q1 is fine
    fails = worst_failures(ROWS)
    assert [f["id"] for f in fails] == ["q2", "q3"]
    assert fails[0]["cited"][0]["excerpt"].endswith("…")
    assert len(fails[0]["cited"][0]["excerpt"]) <= 300


def test_report_files(tmp_path):
    run = fake_run(ROWS)
    paths = write_report(run, tmp_path / "out" / "fake_dev")
    assert [p.name for p in paths] == ["fake_dev.json", "fake_dev.md", "fake_dev.png"]
    assert json.loads(paths[0].read_text())["metrics"] == run["metrics"]
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = paths[1].read_text()
    for heading in ("## Retrieval", "## Answers", "## Grounding", "## Judge check",
                    "## Worst failures", "## Per question", "![recall@k and grounding]"):
        assert heading in md
    assert "| doc | 3 | 0.667 |" in md


def test_report_without_answers_or_gold():
    rows = [{k: v for k, v in _row("q1", 1.0, 1.0, 1.0, 1.0).items()
             if k in ("id", "question", "retrieve_ms", "retrieved", "gold_answers")}]
    run = fake_run(rows)
    run["metrics"] = summarize(rows, {})
    md = render_markdown(run)
    assert "No question has gold documents or facts." in md and "## Grounding" not in md


def test_compare_runs():
    a = fake_run(ROWS)
    rows_b = copy.deepcopy(ROWS)
    rows_b[1] = _row("q2", 1.0, 1.0, 1.0, 1.0)
    b = fake_run(rows_b)
    b["settings"]["retrieval"] = "lexical"
    out = compare_runs(a, b, ("A.json", "B.json"))
    assert "| retrieval | hybrid | lexical |" in out
    # doc recall@10 2/3 -> 1: +0.333
    assert "| retrieval_doc.recall@10 | 0.667 | 1.000 | +0.333 |" in out
    assert "- answer contains gold: 1 better in B, 0 worse (better: q2)" in out
    assert "retrieval_doc.curve" not in flatten(a["metrics"])


def test_cli_compare_and_errors(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(fake_run(ROWS)))
    b.write_text(json.dumps(fake_run(ROWS)))
    assert main(["--compare", str(a), str(b)], Settings()) == 0
    assert "## Metrics" in capsys.readouterr().out
    with pytest.raises(DatasetError, match="needs --questions and --corpus"):
        main(["--dataset", "realtimeqa"], Settings())
    with pytest.raises(DatasetError, match="No such run file"):
        main(["--compare", str(a), str(tmp_path / "c.json")], Settings())


def test_a_failed_answer_is_recorded_not_fatal():
    from eval.cli import evaluate_question
    from eval.datasets import EvalQuestion
    from rag.errors import AnswererError

    class Down:
        def retrieve(self, question, **kw):
            return []

        def ask(self, question, **kw):
            raise AnswererError("endpoint unreachable")

    q = EvalQuestion("q1", "Who?", answers=("Venn",), choices=("Venn", "Okafor"),
                     answer_index=(0,))
    row = evaluate_question(q, Down(), None, mode="hybrid", judge=None, answers=True)
    assert row["error"] == "AnswererError: endpoint unreachable"
    assert (row["contains"], row["choice_correct"], row["abstained"]) == (0.0, 0.0, False)
    assert summarize([row], {})["answers"]["errors"] == 1
