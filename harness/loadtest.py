"""Load benchmark: concurrent clients ask demo questions of a served newsrag over real HTTP, through
/api/ask and the OpenAI-compatible /v1/chat/completions in the same run."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
QUESTIONS = REPO / "demo" / "questions.jsonl"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of non-empty values."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, port: int) -> subprocess.Popen:
    """`newsrag serve` (uvicorn, one process) with the demo corpus and no rate limit."""
    env = dict(os.environ, NEWSRAG_RATE_LIMIT_PER_MINUTE="0", HF_HUB_OFFLINE="1",
               GRADIO_ANALYTICS_ENABLED="False", ANONYMIZED_TELEMETRY="False")
    cmd = [sys.executable, "-m", "ui.cli", "serve", "--data-dir", str(data_dir), "--port",
           str(port), "--ingest-demo-if-empty"]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def wait_ready(url: str, proc: subprocess.Popen | None, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the server exited ({proc.returncode}):\n{proc.stderr.read()[-3000:]}")
        try:
            health = httpx.get(url + "/api/health", timeout=2).json()
            if health.get("articles"):
                return health
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit(f"{url} was not ready after {timeout:.0f} s")


WARM_UP = 5.0  # seconds of load before the measured rounds (first requests pay for caches)
# the endpoints a run can load: newsrag's own JSON API and the OpenAI-compatible one
ENDPOINTS = {"api": ("/api/ask", "/api/ask/stream"),
             "openai": ("/v1/chat/completions", "/v1/chat/completions")}


def request_body(endpoint: str, q: dict, stream: bool) -> dict[str, Any]:
    if endpoint == "openai":
        return {"model": "newsrag", "stream": stream, "newsrag": {"as_of": q.get("as_of")},
                "messages": [{"role": "user", "content": q["question"]}]}
    return {"question": q["question"], "as_of": q.get("as_of")}


async def client(http: httpx.AsyncClient, n: int, questions: list[dict], stop: float,
                 stream: bool, results: list[dict], endpoint: str = "api") -> None:
    i = n
    path = ENDPOINTS[endpoint][stream]
    done = "data: [DONE]" if endpoint == "openai" else "event: answer"
    while time.perf_counter() < stop:
        q = questions[i % len(questions)]
        i += 1
        body = request_body(endpoint, q, stream)
        t0 = time.perf_counter()
        row: dict[str, Any] = {"ok": False}
        try:
            if stream:
                async with http.stream("POST", path, json=body) as r:
                    text = ""
                    async for chunk in r.aiter_text():
                        if not text:
                            row["first_ms"] = (time.perf_counter() - t0) * 1000
                        text += chunk
                row["status"] = r.status_code
                row["ok"] = r.status_code == 200 and done in text
            else:
                r = await http.post(path, json=body)
                row["status"] = r.status_code
                data = r.json()
                answer = data.get("newsrag", data)  # OpenAI's reply carries it in `newsrag`
                row["ok"] = r.status_code == 200 and "answer" in answer
                row["abstained"] = row["ok"] and answer["abstained"]
        except (httpx.HTTPError, ValueError) as e:
            row["error"] = f"{type(e).__name__}: {e}"
        row["ms"] = (time.perf_counter() - t0) * 1000
        results.append(row)


async def run_load(url: str, clients: int, seconds: float, stream: bool,
                   endpoint: str = "api") -> tuple[list[dict], float]:
    questions = [json.loads(x) for x in QUESTIONS.read_text("utf-8").splitlines() if x.strip()]
    results: list[dict] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        t0 = time.perf_counter()
        stop = t0 + seconds
        await asyncio.gather(*(client(http, n, questions, stop, stream, results, endpoint)
                               for n in range(clients)))
        elapsed = time.perf_counter() - t0
    return results, elapsed


def summarize(results: list[dict], elapsed: float, args: argparse.Namespace,
              health: dict, endpoint: str = "api") -> dict[str, Any]:
    ok = [r for r in results if r["ok"]]
    lat = [r["ms"] for r in ok] or [0.0]
    out: dict[str, Any] = {
        "endpoint": ENDPOINTS[endpoint][args.stream] + (
            " (stream)" if args.stream and endpoint == "openai" else ""),
        "clients": args.clients, "seconds": round(elapsed, 1), "requests": len(results),
        "ok": len(ok), "errors": len(results) - len(ok),
        "requests_per_s": round(len(ok) / elapsed, 2),
        "latency_ms": {"p50": round(percentile(lat, 50), 1), "p95": round(percentile(lat, 95), 1),
                       "p99": round(percentile(lat, 99), 1), "mean": round(statistics.mean(lat), 1),
                       "max": round(max(lat), 1)},
        "index": {"articles": health.get("articles"), "chunks": health.get("chunks")},
        "server": "newsrag serve: uvicorn, 1 process, default thread pool; client on the same host",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(),
                    "load_average_1min_before_after": health.get("load_average_1min")},
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if args.stream:
        first = [r["first_ms"] for r in ok if "first_ms" in r] or [0.0]
        out["first_event_ms"] = {"p50": round(percentile(first, 50), 1),
                                 "p95": round(percentile(first, 95), 1)}
    else:
        out["abstained"] = sum(1 for r in ok if r.get("abstained"))
    errors = sorted({r.get("error") or f"HTTP {r.get('status')}" for r in results if not r["ok"]})
    if errors:
        out["error_kinds"] = errors[:10]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.loadtest", description=__doc__)
    p.add_argument("--url", help="a running server (default: start `newsrag serve` on the demo)")
    p.add_argument("--data-dir", type=Path, help="index folder for the started server "
                   "(default: a temp folder, the demo corpus ingested into it)")
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--stream", action="store_true", help="use /api/ask/stream (SSE) and the "
                   "OpenAI-compatible endpoint with stream: true")
    p.add_argument("--endpoints", default="api,openai", help="comma-separated: api (/api/ask), "
                   "openai (/v1/chat/completions); each is loaded for --seconds in turn, on the "
                   "same server in the same run (default: both)")
    p.add_argument("--rounds", type=int, default=4, help="alternate the endpoints this many "
                   "times (each gets --seconds in all)")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "load.json")
    args = p.parse_args(argv)
    endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    if not endpoints or set(endpoints) - set(ENDPOINTS):
        p.error(f"--endpoints: expected some of {', '.join(ENDPOINTS)}; got {args.endpoints!r}")
    proc, tmp = None, None
    url = args.url
    try:
        if url is None:
            if args.data_dir is None:
                tmp = tempfile.TemporaryDirectory(prefix="newsrag-load-")
            data_dir = args.data_dir or Path(tmp.name)
            url = f"http://127.0.0.1:{free_port()}"
            proc = start_server(data_dir, int(url.rsplit(":", 1)[1]))
        health = wait_ready(url.rstrip("/"), proc)
        print(f"{url}: {health['articles']} articles; {args.clients} clients for "
              f"{args.seconds:.0f} s on each of {', '.join(endpoints)}, in {args.rounds} "
              f"alternating rounds, after {WARM_UP:.0f} s of warm-up ...", flush=True)
        load_before = os.getloadavg()[0]
        asyncio.run(run_load(url.rstrip("/"), args.clients, WARM_UP, args.stream, endpoints[0]))
        results: dict[str, list[dict]] = {e: [] for e in endpoints}
        elapsed = dict.fromkeys(endpoints, 0.0)
        for _ in range(args.rounds):  # alternating: a change in the machine's load hits both
            for endpoint in endpoints:
                rows, seconds = asyncio.run(run_load(url.rstrip("/"), args.clients,
                                                     args.seconds / args.rounds, args.stream,
                                                     endpoint))
                results[endpoint] += rows
                elapsed[endpoint] += seconds
        health["load_average_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        reports = [summarize(results[e], elapsed[e], args, health, e) for e in endpoints]
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if tmp is not None:
            tmp.cleanup()
    for report in reports:
        lat = report["latency_ms"]
        print(f"{report['endpoint']}: {report['requests']} requests, {report['errors']} errors, "
              f"{report['requests_per_s']} requests/s; latency p50 {lat['p50']} ms, "
              f"p95 {lat['p95']} ms, p99 {lat['p99']} ms, max {lat['max']} ms")
    out = reports[0] if len(reports) == 1 else {
        "runs": reports, "note": f"the endpoints were loaded in {args.rounds} alternating "
                                 "rounds on one server, with the same questions and clients, "
                                 f"after {WARM_UP:.0f} s of warm-up (not counted)"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n", "utf-8")
    print(f"written to {args.out}")
    return 0 if all(r["errors"] == 0 for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
