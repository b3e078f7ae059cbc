"""Load soak: concurrent clients ask through the real HTTP app for minutes while ingests run.

Two deployments:
  server    (default) `chroma run`, `newsrag serve --chroma-url` and `newsrag ingest
            --chroma-url` in a loop, each its own process, sharing the data folder's catalog;
  embedded  one process serves (uvicorn) and ingests in a thread into embedded Chroma.
Every answer must be a 200 whose citations point at chunks the catalog holds; latency
percentiles and the server's RSS over time are recorded in docs/reliability.json.

    python -m harness.soak --seconds 150 --clients 6 --mode server
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "demo" / "corpus"
QUESTIONS = REPO / "demo" / "questions.jsonl"


def env_for(**extra: str) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), OMP_WAIT_POLICY="PASSIVE", HF_HUB_OFFLINE="1",
                TOKENIZERS_PARALLELISM="false", ANONYMIZED_TELEMETRY="False",
                GRADIO_ANALYTICS_ENABLED="False", NEWSRAG_RATE_LIMIT_PER_MINUTE="0", **extra)


def write_round(folder: Path, n: int, per_round: int) -> Path:
    """Round n of the writer: a new file of synthetic articles, and longer texts for a few of
    round n-1's (an update; chunk ids only grow, so a citation given earlier stays valid)."""
    sys.path.insert(0, str(REPO))
    from harness.synth import synth_article

    folder.mkdir(parents=True, exist_ok=True)
    rows = [synth_article(i, seed=21) for i in range(n * per_round, (n + 1) * per_round)]
    (folder / f"round-{n:03d}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if n:
        prev = folder / f"round-{n - 1:03d}.jsonl"
        old = [json.loads(x) for x in prev.read_text().splitlines()]
        for r in old[:3]:
            r["text"] += f"\n\nUpdate {n}: officials released new figures on Monday."
        prev.write_text("".join(json.dumps(r) + "\n" for r in old))
    return folder


# --- the embedded deployment: one process serves and ingests ------------------------------
def child(args: argparse.Namespace) -> int:
    """Serve the app on uvicorn and ingest rounds in a thread, until SIGTERM."""
    import uvicorn

    from ingest.run import ingest
    from rag.index import Index
    from rag.settings import Settings
    from ui.server import create_app

    settings = Settings.load({"data_dir": args.data_dir, "port": args.port})
    app = create_app(settings)
    stop = threading.Event()

    def writer() -> None:
        index = Index.open(settings.replace(ingest_batch_chunks=16), app.state.rag.index.embedder)
        n, t0 = 0, time.monotonic()
        while not stop.is_set() and time.monotonic() - t0 < args.ingest_seconds:
            write_round(args.writes, n, args.per_round)
            report = ingest(index, [args.writes])
            print(f"ingest round {n}: {report.ingested} new, {report.updated} updated",
                  flush=True)
            n += 1
        index.close()

    writing = threading.Thread(target=writer, daemon=True)
    writing.start()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=args.port,
                                           log_level="warning"))
    signal.signal(signal.SIGTERM, lambda *a: (stop.set(), setattr(server, "should_exit", True)))
    server.run()
    stop.set()
    writing.join()  # let the round under way finish: the driver then checks the index
    return 0


# --- the driver -------------------------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited ({proc.returncode})")
        try:
            health = httpx.get(url + "/api/health", timeout=5).json()
            if health.get("articles"):
                return health
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(1)
    raise SystemExit(f"{url} was not ready after {timeout:.0f} s")


class Checker:
    """Looks each cited chunk up in the catalog, from outside the server (read-only)."""

    def __init__(self, catalog: Path):
        from rag.catalog import SQLiteCatalog

        self.catalog = SQLiteCatalog(catalog, readonly=True)

    def missing(self, chunk_ids: list[str]) -> list[str]:
        found = self.catalog.existing_chunk_ids(chunk_ids)
        return [c for c in chunk_ids if c not in found]

    def counts(self) -> dict[str, int]:
        counts = self.catalog.counts()
        return {"articles": counts["articles"], "chunks": counts["chunks"]}


async def client(http: httpx.AsyncClient, n: int, questions: list[dict], stop: float,
                 checker: Checker, rows: list[dict]) -> None:
    i = n * 7
    while time.perf_counter() < stop:
        q = questions[i % len(questions)]
        i += 1
        t0 = time.perf_counter()
        row: dict[str, Any] = {"ok": False, "t": time.time()}
        try:
            r = await http.post("/api/ask", json={"question": q["question"],
                                                  "as_of": q.get("as_of")})
            row["status"] = r.status_code
            if r.status_code == 200:
                data = r.json()
                cited = [c["chunk_id"] for c in data["citations"]]
                row["missing"] = checker.missing(cited)
                row["cited"] = len(cited)
                row["abstained"] = data["abstained"]
                row["ok"] = not row["missing"]
            else:
                row["error"] = f"HTTP {r.status_code}: {r.text[:200]}"
        except (httpx.HTTPError, ValueError, KeyError) as e:
            row["error"] = f"{type(e).__name__}: {e}"
        row["ms"] = (time.perf_counter() - t0) * 1000
        rows.append(row)


async def sample_rss(pids: list[int], stop: float, samples: list[tuple[float, float]]) -> None:
    """The servers' resident memory (summed over the workers) every two seconds."""
    import psutil

    procs = [psutil.Process(pid) for pid in pids]
    t0 = time.perf_counter()
    while time.perf_counter() < stop:
        try:
            rss = sum(p.memory_info().rss for p in procs)
        except psutil.Error:
            return
        samples.append((round(time.perf_counter() - t0, 1), round(rss / 2**20, 1)))
        await asyncio.sleep(2)


async def drive(urls: list[str], pids: list[int], clients: int, seconds: float,
                questions: list[dict], checker: Checker
                ) -> tuple[list[dict], list[tuple[float, float]], float]:
    """Client n talks to worker n % workers."""
    rows: list[dict] = []
    rss: list[tuple[float, float]] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    https = [httpx.AsyncClient(base_url=u, timeout=300, limits=limits) for u in urls]
    try:
        t0 = time.perf_counter()
        stop = t0 + seconds
        await asyncio.gather(sample_rss(pids, stop, rss),
                             *(client(https[n % len(https)], n, questions, stop, checker, rows)
                               for n in range(clients)))
    finally:
        for h in https:
            await h.aclose()
    return rows, rss, time.perf_counter() - t0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of RSS over the second half of the run (after warm-up)."""
    half = samples[len(samples) // 2:]
    if len(half) < 3:
        return 0.0
    n = len(half)
    mx = sum(t for t, _ in half) / n
    my = sum(m for _, m in half) / n
    var = sum((t - mx) ** 2 for t, _ in half) or 1.0
    return round(sum((t - mx) * (m - my) for t, m in half) / var * 60, 2)


def questions_for(writes_per_round: int, rounds: int) -> list[dict]:
    sys.path.insert(0, str(REPO))
    from harness.synth import synth_article

    demo = [json.loads(x) for x in QUESTIONS.read_text().splitlines() if x.strip()]
    fresh = [{"question": "What happened with " + " ".join(
        synth_article(i, seed=21)["title"].split()[:5]) + "?", "as_of": "2026-11-01"}
        for i in range(0, writes_per_round * rounds, 3)]
    mixed = []
    for i in range(max(len(demo), len(fresh))):
        mixed += ([demo[i % len(demo)]] if demo else []) + ([fresh[i]] if i < len(fresh) else [])
    return mixed


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="newsrag-soak-"))
    data_dir, writes = work / "data", work / "writes"
    env = env_for()
    procs: list[subprocess.Popen] = []
    chroma_flags: list[str] = []
    ingests = {"runs": 0, "failed": 0}
    try:
        if args.mode == "server":
            from harness.faults import ChromaServer

            chroma = ChromaServer.start(work / "chroma")
            procs.append(chroma.proc)
            chroma_flags = ["--chroma-url", chroma.url]
        base = [sys.executable, "-m", "ui.cli"]
        subprocess.run(base + ["ingest", "--no-progress", "--data-dir", str(data_dir),
                               *chroma_flags, str(DEMO)], env=env, cwd=REPO, check=True,
                       stdout=subprocess.DEVNULL)
        servers, urls = _start_servers(args, base, data_dir, writes, chroma_flags, env)
        procs += servers
        health = [wait_ready(u, p) for u, p in zip(urls, servers, strict=True)][-1]
        checker = Checker(data_dir / "catalog.sqlite3")
        start_counts = checker.counts()
        stop_writing = threading.Event()
        writing = threading.Thread(target=_ingest_rounds, daemon=True, args=(
            args, base, data_dir, writes, chroma_flags, ingests, stop_writing))
        if args.mode == "server":
            writing.start()
        print(f"{', '.join(urls)}: {health['articles']} articles; {args.clients} clients for "
              f"{args.seconds:.0f} s while ingests run ({args.mode}) ...", flush=True)
        rows, rss, elapsed = asyncio.run(drive(urls, [p.pid for p in servers], args.clients,
                                               args.seconds, questions_for(args.per_round, 12),
                                               checker))
        stop_writing.set()
        if writing.is_alive():
            writing.join()  # the ingest under way finishes
        for server in servers:  # the embedded server finishes its ingest round, then exits
            server.send_signal(signal.SIGTERM)
            server.wait(900)
        end_counts = checker.counts()
        final = final_check(data_dir, chroma_flags[1] if chroma_flags else None)
    finally:
        _stop_all(procs)
        shutil.rmtree(work, ignore_errors=True)
    report = summarize(rows, rss, elapsed, args, start_counts, end_counts, ingests)
    report["index_check_after"] = final
    return report


def _start_servers(args: argparse.Namespace, base: list[str], data_dir: Path, writes: Path,
                   chroma_flags: list[str], env: dict[str, str]
                   ) -> tuple[list[subprocess.Popen], list[str]]:
    """The serving processes and their URLs: `newsrag serve` workers sharing Chroma and the
    catalog (server mode), or the one embedded server that also ingests."""
    servers, urls = [], []
    for _ in range(args.workers if args.mode == "server" else 1):
        port = free_port()
        if args.mode == "server":  # `newsrag serve` workers sharing Chroma and the catalog
            cmd = base + ["serve", "--data-dir", str(data_dir), "--port", str(port),
                          *chroma_flags]
        else:
            cmd = [sys.executable, "-m", "harness.soak", "--child", "--data-dir", str(data_dir),
                   "--port", str(port), "--writes", str(writes), "--per-round",
                   str(args.per_round), "--ingest-seconds", str(args.ingest_seconds)]
        servers.append(subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL))
        urls.append(f"http://127.0.0.1:{port}")
    return servers, urls


def _ingest_rounds(args: argparse.Namespace, base: list[str], data_dir: Path, writes: Path,
                   chroma_flags: list[str], ingests: dict[str, int],
                   stop_writing: threading.Event) -> None:
    """Server mode's writer: `newsrag ingest` processes, one after another, counted in
    `ingests`, until stop_writing or --ingest-seconds."""
    n, t0 = 0, time.monotonic()
    while not stop_writing.is_set() and time.monotonic() - t0 < args.ingest_seconds:
        write_round(writes, n, args.per_round)
        done = subprocess.run(
            base + ["ingest", "--no-progress", "--data-dir", str(data_dir),
                    *chroma_flags, str(writes)],
            env=env_for(NEWSRAG_INGEST_BATCH_CHUNKS="16"), cwd=REPO, check=False,
            capture_output=True, text=True)
        ingests["runs"] += 1
        ingests["failed"] += done.returncode != 0
        n += 1


def _stop_all(procs: list[subprocess.Popen]) -> None:
    """SIGTERM to each process still running, last started first; SIGKILL after 60 s."""
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()


def final_check(data_dir: Path, chroma_url: str | None) -> dict[str, Any]:
    """Nothing lost: Chroma, the catalog and its FTS rows agree once the writers have stopped."""
    from rag.index import Index
    from rag.settings import Settings

    index = Index.open(Settings(data_dir=data_dir, chroma_url=chroma_url))
    try:
        return index.verify()
    finally:
        index.close()


def summarize(rows, rss, elapsed, args, start_counts, end_counts, ingests) -> dict[str, Any]:
    ok = [r for r in rows if r["ok"]]
    lat = [r["ms"] for r in ok] or [0.0]
    errors = [r for r in rows if not r["ok"]]
    mem = [m for _, m in rss] or [0.0]
    return {
        "what": f"{args.clients} clients POST /api/ask for {elapsed:.0f} s while ingests add "
                f"and update articles ({args.mode} Chroma); each citation looked up in the "
                "catalog; RSS summed over the serving processes",
        "mode": args.mode, "clients": args.clients, "seconds": round(elapsed, 1),
        "ingest_seconds": None if args.ingest_seconds == float("inf") else args.ingest_seconds,
        "workers": args.workers if args.mode == "server" else 1,
        "requests": len(rows), "ok": len(ok), "errors": len(errors),
        "citations_checked": sum(r.get("cited", 0) for r in rows),
        "citations_missing": sum(len(r.get("missing", [])) for r in rows),
        "abstained": sum(1 for r in ok if r.get("abstained")),
        "requests_per_s": round(len(ok) / max(elapsed, 1e-9), 2),
        "latency_ms": {"p50": round(percentile(lat, 50), 1), "p95": round(percentile(lat, 95), 1),
                       "p99": round(percentile(lat, 99), 1), "max": round(max(lat), 1)},
        "index_before": start_counts, "index_after": end_counts,
        "ingest_runs": ingests["runs"] if args.mode == "server" else "in-process thread",
        "ingest_runs_failed": ingests["failed"],
        "rss_mb": {"first": mem[0], "last": mem[-1], "min": min(mem), "max": max(mem),
                   "slope_second_half_mb_per_min": slope_mb_per_min(rss)},
        "rss_samples": rss[:: max(1, len(rss) // 60)],
        "error_kinds": sorted({r.get("error") or f"missing {r.get('missing')}"
                               for r in errors})[:10],
        "machine": {"cpus": os.cpu_count(), "load_average_1min_at_end": round(
            os.getloadavg()[0], 2)},
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.soak", description=__doc__.split("\n")[0])
    p.add_argument("--mode", choices=("server", "embedded"), default="server")
    p.add_argument("--clients", type=int, default=6)
    p.add_argument("--workers", type=int, default=2,
                   help="server mode: `newsrag serve` processes sharing the Chroma server")
    p.add_argument("--seconds", type=float, default=150)
    p.add_argument("--per-round", dest="per_round", type=int, default=30,
                   help="new articles per ingest round")
    p.add_argument("--ingest-seconds", dest="ingest_seconds", type=float, default=float("inf"),
                   help="start no ingest round after this (default: ingest all along)")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "reliability.json")
    # the embedded deployment's server process
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", dest="data_dir", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=7860, help=argparse.SUPPRESS)
    p.add_argument("--writes", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO))
    if args.child:
        return child(args)
    report = run(args)
    lat = report["latency_ms"]
    print(f"{report['requests']} requests, {report['errors']} errors, "
          f"{report['citations_checked']} citations checked, {report['citations_missing']} "
          f"missing; p50 {lat['p50']} ms, p95 {lat['p95']} ms; index {report['index_before']} "
          f"-> {report['index_after']}; RSS {report['rss_mb']}")
    from harness.faults import record

    record(f"soak_{args.mode}", report, args.out)
    print(f"written to {args.out}")
    ok = report["errors"] == 0 and report["citations_missing"] == 0
    return 0 if ok and report["index_check_after"]["consistent"] else 1


if __name__ == "__main__":
    sys.exit(main())
