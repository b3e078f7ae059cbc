"""A run as files: PREFIX.json (everything), PREFIX.md (for people) and PREFIX.png (the chart)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_COUNTS = ("tp", "fp", "fn", "tn")
RETRIEVAL_KEYS = ("recall@1", "recall@5", "recall@10", "mrr@10", "map@10", "ndcg@10")


def write_report(run: dict[str, Any], prefix: Path) -> list[Path]:
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    json_path = prefix.with_name(prefix.name + ".json")
    md_path = prefix.with_name(prefix.name + ".md")
    png_path = prefix.with_name(prefix.name + ".png")
    json_path.write_text(json.dumps(run, indent=1, ensure_ascii=False) + "\n", "utf-8")
    draw_chart(run, png_path)
    md_path.write_text(render_markdown(run, chart=png_path.name), "utf-8")
    return [json_path, md_path, png_path]


def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_f(c) for c in row) + " |" for row in rows]
    return out


def _cell(text: str, n: int = 90) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= n else text[: n - 1] + "…"


def render_markdown(run: dict[str, Any], chart: str | None = None) -> str:
    m = run["metrics"]
    lines = _heading(run, chart)
    lines += ["", "## Settings", ""]
    lines += _table(["setting", "value"], [[k, v] for k, v in run["settings"].items()])
    lines += _retrieval(m)
    if "answers" in m:
        lines += _answers(m["answers"])
    if "multiple_choice" in m:
        c = m["multiple_choice"]
        lines += ["", ("Multiple choice: the answer supports the gold choice for "
                  f"{_f(c['choice_supported'])} of {c['questions']} questions "
                  f"(no choice supported: {_f(c['no_choice'])}).")]
    if m.get("grounding"):
        lines += _grounding(m["grounding"], run["settings"])
    if m.get("judge_check"):
        lines += _judge_check(m["judge_check"])
    lines += _timing(m.get("timing", {}))
    lines += _failures(run.get("failures", []))
    lines += _rows(run["rows"])
    return "\n".join(lines) + "\n"


def _heading(run: dict[str, Any], chart: str | None) -> list[str]:
    """The title, the corpus and index in one paragraph, the dataset's note and the chart."""
    ds, idx = run["dataset"], run["index"]
    lines = [f"# Evaluation: {ds['name']} ({ds['questions']} questions)", ""]
    lines += [(f"Run {run['created']}. Corpus `{ds['corpus']}`: {idx['articles']} articles, "
              f"{idx['chunks']} chunks, {idx['duplicates']} duplicates stored once; index "
              f"`{idx['dir']}` ({'reused, opened' if idx['reused'] else 'built'} in "
              f"{idx['build_seconds']} s).")]
    if ds.get("notes"):
        lines += ["", f"Note: {ds['notes']}"]
    if chart:
        lines += ["", f"![recall@k and grounding]({chart})"]
    return lines


def _retrieval(m: dict[str, Any]) -> list[str]:
    lines = ["", "## Retrieval", "",
             ("Binary relevance; document ranks are each article's first passage "
              "(see docs/eval/README.md)."), ""]
    rows = []
    for level in ("doc", "passage"):
        r = m.get(f"retrieval_{level}")
        if r:
            rows.append([level, r["questions"]] + [r[k] for k in RETRIEVAL_KEYS])
    lines += _table(["level", "questions", "R@1", "R@5", "R@10", "MRR@10", "MAP@10",
                     "nDCG@10"], rows) if rows else ["No question has gold documents or facts."]
    return lines


def _answers(a: dict[str, Any]) -> list[str]:
    lines = ["", "## Answers", ""]
    lines += _table(["questions", "exact match", "contains gold", "token F1", "abstained",
                     "errors", "answers with an attached sentence"],
                    [[a["questions"], a["exact_match"], a["contains_gold"], a["token_f1"],
                      a["abstention_rate"], a.get("errors", 0),
                      a.get("attached_answers")]])
    return lines


def _grounding(g: dict[str, Any], s: dict[str, Any]) -> list[str]:
    lines = ["", "## Grounding", "",
             (f"Judge `{s['judge']}` (threshold {_f(s['judge_threshold'])}); ALCE citation "
              "recall and precision, macro-averaged over answered questions."), ""]
    lines += _table(
        ["answers", "sentences", "cited", "citation recall", "citation precision",
         "unsupported"],
        [[g["answers"], g["sentences"], g["cited_share"], g["citation_recall"],
          g["citation_precision"], g["unsupported_share"]]])
    lines += ["", (f"Sentences: {g['supported_sentences']} supported, "
              f"{g['cited_unsupported_sentences']} cited but unsupported, "
              f"{g['uncited_sentences']} uncited.")]
    return lines


def _judge_check(j: dict[str, Any]) -> list[str]:
    lines = ["", "## Judge check", "",
             ("Each gold evidence sentence against the best-matching passage of its own gold "
              "article (supported) and a passage of an unrelated article (not supported)."), ""]
    lines += _table(["judge", "pairs", "accuracy", "precision", "recall"],
                    [[j.get("judge"), j["pairs"], j["accuracy"], j["precision"], j["recall"]]])
    if j.get("hard"):
        h = j["hard"]
        kinds = list(h["by_kind"])
        lines += ["", ("Hard negatives: each true claim with one fact changed (a number, a "
                       "date moved to another, a name, two names swapped, a negation added or "
                       "removed, a stance or outcome reversed, a quantifier made absolute: "
                       "eval/negatives.py), against its own passage; accuracy is the share "
                       "judged unsupported. "
                       f"Recall on the true claims: {_f(j.get('true_recall'))}."), ""]
        lines += _table(["judge", "hard pairs", "accuracy"] + kinds,
                        [[j.get("judge"), h["pairs"], h["accuracy"]]
                         + [f"{_f(h['by_kind'][k]['accuracy'])} ({h['by_kind'][k]['pairs']})"
                            for k in kinds]])
    return lines


def _timing(t: dict[str, Any]) -> list[str]:
    return ["", "## Timing", "",
            (f"Retrieval median {_f(t.get('retrieve_ms_median'), 1)} ms (p95 "
             f"{_f(t.get('retrieve_ms_p95'), 1)}); answer median "
             f"{_f(t.get('ask_ms_median'), 1)} ms (p95 {_f(t.get('ask_ms_p95'), 1)}).")]


def _failures(failures: list[dict]) -> list[str]:
    if not failures:
        return []
    lines = ["", "## Worst failures", ""]
    for f in failures:
        lines += [f"### {f['id']}: {_cell(f['question'], 200)}", "",
                  f"- gold: {', '.join(f['gold']) or '–'}",
                  f"- answer{' (abstained)' if f['abstained'] else ''}: {_cell(f['answer'], 400)}",
                  (f"- gold documents in top 10: {_f(f['doc_recall@10'])}; "
                  f"citation recall: {_f(f['citation_recall'])}")]
        for c in f["cited"]:
            lines.append(f"- [{c['number']}] *{_cell(c['title'], 100)}*: {_cell(c['excerpt'], 320)}")
        lines.append("")
    return lines


def _rows(rows: list[dict]) -> list[str]:
    lines = ["", "## Per question", ""]
    table = []
    for r in rows:
        doc = r.get("doc", {})
        g = r.get("grounding") or {}
        table.append([r["id"], doc.get("recall@10"), doc.get("mrr@10"), r.get("contains"),
                      r.get("choice_correct"), g.get("citation_recall"),
                      r.get("abstained"), _cell(r["question"], 80)])
    return lines + _table(["id", "doc R@10", "doc MRR", "contains", "choice", "cite recall",
                           "abstained", "question"], table)


# ---------------------------------------------------------------- chart

def draw_chart(run: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = run["metrics"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for level, style in (("doc", "o-"), ("passage", "s--")):
        r = m.get(f"retrieval_{level}")
        if r:
            curve = r["curve"]
            left.plot(range(1, len(curve) + 1), curve, style,
                      label=f"{level} level ({r['questions']} q)")
    left.set(xlabel="k", ylabel="recall@k", ylim=(0, 1.02), xticks=range(1, 11),
             title=f"Retrieval ({run['settings']['retrieval']})")
    left.grid(alpha=0.3)
    if left.lines:
        left.legend(loc="lower right")
    g = m.get("grounding") or {}
    if g.get("sentences"):
        parts = [("supported", g["supported_sentences"], "#2a9d8f"),
                 ("cited, unsupported", g["cited_unsupported_sentences"], "#e9c46a"),
                 ("uncited", g["uncited_sentences"], "#e76f51")]
        start = 0.0
        for name, n, color in parts:
            share = n / g["sentences"]
            right.barh([0], [share], left=start, color=color, label=f"{name} ({n})")
            start += share
        bars = [("citation recall", g["citation_recall"]),
                ("citation precision", g["citation_precision"]),
                ("cited share", g["cited_share"])]
        for i, (name, v) in enumerate(bars, 1):
            right.barh([i], [v or 0], color="#264653")
            right.text((v or 0) + 0.01, i, _f(v), va="center")
        right.set_yticks(range(4), ["sentences"] + [b[0] for b in bars])
        right.set(xlim=(0, 1.1), title=f"Grounding (judge {run['settings']['judge']})")
        right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=8)
    else:
        right.text(0.5, 0.5, "no answers evaluated", ha="center", va="center")
        right.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- comparing runs

def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of the metrics as 'section.key' (curves and confusion counts left out)."""
    out: dict[str, float] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and k not in _COUNTS:
            out[key] = float(v)
    return out


def compare_runs(a: dict, b: dict, names: tuple[str, str] = ("A", "B")) -> str:
    """Markdown: differing settings, every metric side by side, and questions that changed."""
    lines = [f"# {names[0]} vs {names[1]}", ""]
    sa, sb = a.get("settings", {}), b.get("settings", {})
    diff = [[k, sa.get(k), sb.get(k)] for k in sorted(set(sa) | set(sb)) if sa.get(k) != sb.get(k)]
    if a["dataset"]["questions"] != b["dataset"]["questions"]:
        diff.append(["questions", a["dataset"]["questions"], b["dataset"]["questions"]])
    lines += ["## Settings that differ", ""]
    lines += _table(["setting", "A", "B"], diff) if diff else ["(none)"]
    fa, fb = flatten(a["metrics"]), flatten(b["metrics"])
    rows = []
    for k in sorted(set(fa) | set(fb)):
        va, vb = fa.get(k), fb.get(k)
        delta = vb - va if va is not None and vb is not None else None
        rows.append([k, va, vb, None if delta is None else f"{delta:+.3f}"])
    lines += ["", "## Metrics", ""] + _table(["metric", "A", "B", "B − A"], rows)
    lines += ["", "## Questions that changed", ""] + _changed(a["rows"], b["rows"])
    return "\n".join(lines) + "\n"


def _changed(rows_a: list[dict], rows_b: list[dict]) -> list[str]:
    by_id = {r["id"]: r for r in rows_a}
    checks = [("answer contains gold", lambda r: r.get("contains")),
              ("choice supported", lambda r: r.get("choice_correct")),
              ("doc recall@10", lambda r: r.get("doc", {}).get("recall@10"))]
    lines = []
    for name, get in checks:
        better, worse = [], []
        for rb in rows_b:
            ra = by_id.get(rb["id"])
            if ra is None or get(ra) is None or get(rb) is None:
                continue
            if get(rb) > get(ra):
                better.append(rb["id"])
            elif get(rb) < get(ra):
                worse.append(rb["id"])
        lines.append(f"- {name}: {len(better)} better in B, {len(worse)} worse"
                     + (f" (better: {', '.join(better[:15])})" if better else "")
                     + (f" (worse: {', '.join(worse[:15])})" if worse else ""))
    return lines
