"""Benchmark of the several-host deployment, on loopback: the catalog on PostgreSQL, the vectors
on a `chroma run` server, `newsrag serve` workers with data folders of their own.

Prints and writes (docs/bench/hosts.json):
- requests per second and latency p50/p95 of /api/ask with one worker on a single-host index
  (SQLite, embedded Chroma: the baseline, in the same run), one worker on the several-host
  deployment, and two workers on it (the clients split between them), all on the demo corpus;
- the delay from an ingest committing on one host (its own data folder and process) to a worker
  on another answering about the new article, over several articles: median and p95.

    python -m harness.hosts_bench --clients 8 --seconds 30 --items 6
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from harness.faults import ChromaServer
from harness.loadtest import free_port, percentile, run_load
from harness.postgres import PostgresServer

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "demo" / "corpus"
OUT = REPO / "docs" / "bench" / "hosts.json"

# new articles for the delay measurement, written by us: a made-up harbour in each
HARBOURS = [("Varrow Sound", "Odile Brannock"), ("Kestle Bay", "Tamsin Orrell"),
            ("Merrion Reach", "Joaquim Vell"), ("Saltgrave", "Noor Achterberg"),
            ("Pellworth", "Ilari Sunde"), ("Brackwater Point", "Wenna Trevose"),
            ("Cullis Haven", "Radek Amsel"), ("Dunmore Strand", "Ysolde Carrick")]


def _story(i: int) -> tuple[dict, str, str]:
    place, person = HARBOURS[i % len(HARBOURS)]
    slug = place.lower().replace(" ", "-")
    art = {"id": f"harbour-master-{i}", "title": f"{person} named harbour master of {place}",
           "source": "Coastline Gazette", "published": "2026-11-30T08:00:00Z",
           "url": f"https://coastline.example/{slug}-harbour-master",
           "text": f"{person} was named harbour master of {place} on Monday, the port board "
                   f"said. {person.split()[0]} served as deputy for six years and takes over "
                   f"from a predecessor who retired in October.\n\nThe board said the new "
                   f"harbour master would oversee the dredging of the {place} channel, due to "
                   "begin next spring."}
    return art, f"Who was named harbour master of {place}?", art["url"]


def _env(settings: dict[str, str | None]) -> dict[str, str]:
    env = dict(os.environ, NEWSRAG_RATE_LIMIT_PER_MINUTE="0", HF_HUB_OFFLINE="1",
               GRADIO_ANALYTICS_ENABLED="False", ANONYMIZED_TELEMETRY="False",
               OMP_WAIT_POLICY="PASSIVE", PYTHONPATH=str(REPO))
    for key in ("NEWSRAG_CATALOG_URL", "NEWSRAG_CHROMA_URL", "NEWSRAG_COLLECTION"):
        env.pop(key, None)
    env.update({k: v for k, v in settings.items() if v})
    return env


def start_worker(data_dir: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ui.cli", "serve", "--data-dir",
                             str(data_dir), "--port", str(port)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the worker exited: {proc.stderr.read()[-3000:]}")
        try:
            if httpx.get(url + "/api/health", timeout=5).json().get("articles"):
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the worker at {url} never became ready")


def warm(url: str, n: int = 20) -> None:
    """A few questions first: a fresh worker's first answers load its postings and models."""
    questions = [json.loads(x) for x in (REPO / "demo" / "questions.jsonl").read_text(
        "utf-8").splitlines() if x.strip()]
    for q in questions[:n]:
        httpx.post(url + "/api/ask", json={"question": q["question"], "as_of": q.get("as_of")},
                   timeout=120)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def load(urls: list[str], clients: int, seconds: float) -> dict[str, Any]:
    """`clients` clients split between the workers, for `seconds`."""
    async def both() -> list[tuple[list[dict], float]]:
        share = [clients // len(urls) + (i < clients % len(urls)) for i in range(len(urls))]
        return await asyncio.gather(*(run_load(u, n, seconds, False)
                                      for u, n in zip(urls, share, strict=True)))

    runs = asyncio.run(both())
    rows = [r for results, _ in runs for r in results]
    elapsed = max(e for _, e in runs)
    ok = [r["ms"] for r in rows if r["ok"]] or [0.0]
    return {"workers": len(urls), "clients": clients, "requests": len(rows),
            "errors": sum(not r["ok"] for r in rows),
            "requests_per_s": round(sum(r["ok"] for r in rows) / elapsed, 2),
            "latency_ms": {"p50": round(percentile(ok, 50), 1),
                           "p95": round(percentile(ok, 95), 1),
                           "mean": round(statistics.mean(ok), 1)}}


def ingest_demo(settings: dict[str, Any], data_dir: Path) -> None:
    from ingest.run import ingest
    from rag.index import Index
    from rag.settings import Settings

    index = Index.open(Settings(data_dir=data_dir, **settings))
    try:
        ingest(index, [DEMO])
    finally:
        index.close()


def delays(env: dict[str, str], ingest_dir: Path, worker_url: str, items: int,
           work: Path) -> list[float]:
    """Seconds from `newsrag ingest` on one host returning (its commit done) to the worker on
    another citing the new article."""
    out = []
    for i in range(items):
        art, question, url = _story(i)
        feed = work / f"incoming-{i}.jsonl"
        feed.write_text(json.dumps(art) + "\n", "utf-8")
        done = subprocess.run([sys.executable, "-m", "ui.cli", "ingest", "--no-progress",
                               "--data-dir", str(ingest_dir), str(feed)], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            raise SystemExit(f"the ingest failed: {done.stderr[-2000:]}")
        t0 = time.monotonic()
        while True:
            r = httpx.post(worker_url + "/api/ask", json={"question": question,
                                                          "as_of": "2026-12-01"}, timeout=60)
            if r.status_code == 200 and any(c["url"] == url for c in r.json()["citations"]):
                out.append(time.monotonic() - t0)
                break
            if time.monotonic() - t0 > 120:
                raise SystemExit(f"the worker never answered {question!r}: {r.text[:500]}")
            time.sleep(0.05)
        print(f"  article {i + 1}: answered on the other host {out[-1]:.2f} s after the commit",
              flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="newsrag-hosts-"))
    report = _measure(args, work)
    _print_loads(report)
    c = report["commit_to_answer_s"]
    print(f"commit on one host -> answer on another: median {c['median']} s, p95 {c['p95']} s "
          f"({c['items']} articles)")
    report["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                         "platform": platform.platform()}
    report["note"] = ("all processes on one machine over loopback: PostgreSQL, the Chroma "
                      "server, the workers and the load clients share its cores")
    report["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    print(f"written to {args.out}")
    errors = sum(report[k]["errors"] for k in report if isinstance(report[k], dict)
                 and "errors" in report[k])
    return 0 if errors == 0 else 1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness.hosts_bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--items", type=int, default=6, help="articles for the delay measurement")
    p.add_argument("--out", type=Path, default=OUT)
    return p


def _measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The single-host baseline, the several-host loads and the commit-to-answer delays; the
    workers and servers stopped, and the scratch folder removed, at the end."""
    pg = chroma = None
    workers: list[subprocess.Popen] = []
    report: dict[str, Any] = {}
    try:
        print("single host (SQLite, embedded Chroma): the baseline ...", flush=True)
        ingest_demo({}, work / "single")
        proc, url = start_worker(work / "single", _env({}))
        workers.append(proc)
        warm(url)
        report["single_host_one_worker"] = load([url], args.clients, args.seconds)
        stop(workers.pop())
        pg = PostgresServer.start(Path(tempfile.mkdtemp(prefix="newsrag-pg-")))
        chroma = ChromaServer.start(work / "chroma")
        shared = {"catalog_url": pg.create_database("news"), "chroma_url": chroma.url,
                  "collection": "hosts"}
        env = _env({"NEWSRAG_CATALOG_URL": shared["catalog_url"],
                    "NEWSRAG_CHROMA_URL": chroma.url, "NEWSRAG_COLLECTION": "hosts"})
        print("several hosts (PostgreSQL, Chroma server): ingest on host 'ingest' ...",
              flush=True)
        ingest_demo(shared, work / "host-ingest")
        urls = _warm_workers(work, env, workers)
        report["several_hosts_one_worker"] = load(urls[:1], args.clients, args.seconds)
        report["several_hosts_two_workers"] = load(urls, args.clients, args.seconds)
        print("commit on one host -> answer on another ...", flush=True)
        d = delays(env, work / "host-ingest", urls[1], args.items, work)
        report["commit_to_answer_s"] = _delay_summary(d)
    finally:
        for proc in workers:
            stop(proc)
        if chroma is not None:
            chroma.stop()
        if pg is not None:
            pg.stop()
            shutil.rmtree(pg.folder, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return report


def _warm_workers(work: Path, env: dict[str, str], workers: list[subprocess.Popen]) -> list[str]:
    """Workers on hosts a and b (each added to `workers` once started), warmed: their URLs."""
    urls = []
    for name in ("a", "b"):
        proc, url = start_worker(work / f"host-{name}", env)
        workers.append(proc)
        warm(url)
        urls.append(url)
    return urls


def _delay_summary(d: list[float]) -> dict[str, Any]:
    return {"items": len(d), "median": round(statistics.median(d), 2),
            "p95": round(percentile(d, 95), 2), "max": round(max(d), 2),
            "all": [round(x, 2) for x in d]}


def _print_loads(report: dict[str, Any]) -> None:
    """Each load's row, with its ratio to the single-host baseline (added to the row)."""
    base = report["single_host_one_worker"]["requests_per_s"] or 1.0
    for key in ("single_host_one_worker", "several_hosts_one_worker",
                "several_hosts_two_workers"):
        row = report[key]
        row["ratio_to_single_host"] = round(row["requests_per_s"] / base, 2)
        print(f"{key:28} {row['requests_per_s']:7.2f} req/s  p50 {row['latency_ms']['p50']:7.1f}"
              f" ms  p95 {row['latency_ms']['p95']:7.1f} ms  errors {row['errors']}  "
              f"x{row['ratio_to_single_host']}")


if __name__ == "__main__":
    sys.exit(main())
