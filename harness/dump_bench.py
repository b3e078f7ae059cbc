"""Export and import measured (docs/export.md): an index carried from the embedded deployment to
PostgreSQL + a Chroma server and back, through real `newsrag export` / `newsrag import` runs.

    python -m harness.dump_bench --index .newsrag/eval/<key> --collection eval \\
        --questions ../shared/data/realtimeqa/questions_dev.jsonl --out docs/bench/dump.json

The source index is copied first (the export holds its ingest lock: the original stays free).
Each command's wall time and peak memory come from /usr/bin/time; after each import
`newsrag stats --check` must say consistent; the catalogs' contents are compared, and every
question is answered from the source and from each copy and the answers compared (text,
abstention and cited chunks).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.faults import ChromaServer, Target
from harness.postgres import PostgresServer

REPO = Path(__file__).resolve().parents[1]


def run(cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    """A newsrag command under /usr/bin/time: its seconds, peak memory and output."""
    full = ["/usr/bin/time", "-f", "@@time %e %M", sys.executable, "-m", "ui.cli", *cmd]
    done = subprocess.run(full, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
    line = next(x for x in done.stderr.splitlines() if x.startswith("@@time"))
    _, seconds, kib = line.split()
    return {"seconds": float(seconds), "peak_mb": round(int(kib) / 1024, 1),
            "stdout": done.stdout}


def check(target: Target, env: dict[str, str]) -> dict[str, Any]:
    out = run(["stats", "--check", "--json", *target.flags()], env)
    data = json.loads(out["stdout"])
    return {"articles": data["articles"], "chunks": data["chunks"],
            "duplicates": data["duplicates"], "files": data["files"],
            "consistent": data["check"]["consistent"], "seconds": out["seconds"]}


def contents_digest(target: Target) -> str:
    """A digest of what a clean build determines (articles, chunks, duplicates)."""
    from rag.index import Index

    index = Index.open(target.settings())
    try:
        c = index.catalog.contents()
    finally:
        index.close()
    material = {k: sorted((key, list(v) if isinstance(v, tuple) else v)
                          for key, v in c[k].items()) for k in ("articles", "chunks", "duplicates")}
    return hashlib.sha256(json.dumps(material).encode()).hexdigest()[:16]


def answers(target: Target, questions: list[Any]) -> list[tuple]:
    from rag.index import Index
    from rag.pipeline import NewsRAG

    rag = NewsRAG(Index.open(target.settings()))
    try:
        out = []
        for q in questions:
            a = rag.ask(q.question, as_of=q.as_of)
            out.append((a.text, a.abstained, [c.chunk_id for c in a.citations]))
        return out
    finally:
        rag.close()


def dump_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.dump_bench", description=__doc__)
    p.add_argument("--index", type=Path, required=True, help="the source index's data folder")
    p.add_argument("--collection", default="news")
    p.add_argument("--questions", type=Path, help="questions (RealTime QA jsonl) to compare")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = p.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_WAIT_POLICY="PASSIVE",
               HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", ANONYMIZED_TELEMETRY="False")
    work = Path(tempfile.mkdtemp(prefix="newsrag-dump-bench-"))
    pg_folder = Path(tempfile.mkdtemp(prefix="newsrag-dump-bench-pg-"))  # the postgres user's
    pg = chroma = None
    figures: dict[str, Any] = {"created": time.strftime("%Y-%m-%d"), "steps": {}}
    steps = figures["steps"]
    try:
        source = Target(work / "source", collection=args.collection)
        shutil.copytree(args.index, source.data_dir, ignore=shutil.ignore_patterns("ingest.lock"))
        steps["source"] = check(source, env)
        print("source", steps["source"], flush=True)

        steps["export embedded"] = run(["export", str(work / "dump1"), "--no-progress",
                                        *source.flags()], env)
        steps["export embedded"]["bytes"] = dump_size(work / "dump1")
        embedded = Target(work / "embedded")
        steps["import into embedded"] = run(["import", str(work / "dump1"), "--no-progress",
                                             "--json", *embedded.flags()], env)
        steps["import into embedded"]["check"] = check(embedded, env)

        pg = PostgresServer.start(pg_folder)
        chroma = ChromaServer.start(work / "chroma-server")
        several = Target(work / "several", chroma_url=chroma.url, collection="moved",
                         catalog_url=pg.create_database("news"))
        steps["import into postgres+server"] = run(["import", str(work / "dump1"),
                                                    "--no-progress", "--json",
                                                    *several.flags()], env)
        steps["import into postgres+server"]["check"] = check(several, env)
        steps["export postgres+server"] = run(["export", str(work / "dump2"), "--no-progress",
                                               *several.flags()], env)
        steps["export postgres+server"]["bytes"] = dump_size(work / "dump2")
        back = Target(work / "back")
        steps["import back into embedded"] = run(["import", str(work / "dump2"),
                                                  "--no-progress", "--json", *back.flags()], env)
        steps["import back into embedded"]["check"] = check(back, env)
        for step in steps.values():
            if "stdout" in step:
                out = step.pop("stdout")
                if out.lstrip().startswith("{"):
                    report = json.loads(out)
                    step["vectors_embedded"] = report["vectors_embedded"]
                    step["vectors_from_dump"] = report["vectors_from_dump"]
            print(step, flush=True)
        targets = {"source": source, "embedded": embedded, "postgres+server": several,
                   "back": back}
        figures["contents"] = {name: contents_digest(t) for name, t in targets.items()}
        print("contents", figures["contents"], flush=True)
        if args.questions:
            from eval.datasets import load_dataset

            questions = load_dataset("realtimeqa", args.questions).questions[: args.limit]
            t0 = time.perf_counter()
            want = answers(source, questions)
            same = {"questions": len(questions)}
            for name in ("embedded", "postgres+server", "back"):
                got = answers(targets[name], questions)
                same[name] = sum(a == b for a, b in zip(got, want, strict=True))
                print("same answers", name, same[name], "of", len(questions), flush=True)
            same["seconds"] = round(time.perf_counter() - t0, 1)
            figures["same_answers"] = same
    finally:
        if args.out:
            args.out.write_text(json.dumps(figures, indent=2) + "\n", "utf-8")
        if chroma is not None:
            chroma.stop()
        if pg is not None:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pg_folder, ignore_errors=True)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
