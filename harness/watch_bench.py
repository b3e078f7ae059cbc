"""Benchmark of `newsrag watch` on a loopback site of generated articles in feeds.

    python -m harness.watch_bench [--articles 2000] [--feeds 20] [--items 8] [--every 5]

1. Throughput: one `Watcher.poll()` of every feed into a fresh index: pages fetched and stored
   per second (fetch, read with the HTML loader, dedup, chunk, embed, Chroma and catalog).
2. Freshness: a `newsrag serve --watch --every N` process on that index; one new item at a time
   is published in a feed, and /api/ask is asked about it until an answer cites it: the time from
   publication to the first answer that cites it (median and p95 over --items items).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parents[1]
WORDS = ("council", "harbour", "ferry", "budget", "strike", "vote", "mayor", "river", "bridge",
         "school", "clinic", "tram", "orchard", "festival", "library", "drought", "wildfire",
         "pier", "museum", "union", "wages", "rents", "flood", "market")
PLACES = ("Quillbrook", "Marrowfen", "Tallowmere", "Brackenholt", "Wexcombe", "Sorrelby",
          "Hollinsgate", "Ravensmoor", "Dunmarsh", "Elderwick", "Fernhallow", "Gorsebury")
KEEPERS = ("Marisol Venn", "Tobias Ashgrove", "Ines Calloway", "Rufus Penhale", "Wren Aldous",
           "Oona Bexley", "Caspian Thorne", "Delphine Marr", "Hugo Fairweather", "Lyra Quennell",
           "Silas Brockway", "Nell Tamsin")


def story(n: int, words: int = 150) -> str:
    out = []
    for i in range(words // 16):
        w = [WORDS[(n * 7 + i * 5 + k * 3) % len(WORDS)] for k in range(5)]
        out.append(f"The {w[0]} board of district {n} met about the {w[1]} and {w[2]} plans on "
                   f"day {i}, and residents raised {w[3]} and {w[4]} concerns {n * 31 % 977}.")
    return " ".join(out)


def keeper_story(i: int, place: str, keeper: str) -> str:
    """The article published during the freshness run: written unlike the board-meeting stories
    of the site, so that nothing but its arrival decides whether it is found (a page made of the
    same template as 2,000 others is dropped as a near-repeat of them by retrieval)."""
    first = keeper.split()[0]
    return (f"{keeper}, the keeper of the {place} lighthouse for thirty-one years, retired on "
            f"Friday after the council automated the light. The lamp was first lit in "
            f"{1850 + 7 * i}, and {first} climbed its {90 + i} steps twice a night. Fishing crews "
            f"from {place} gathered on the quay to thank the keeper with a brass bell. A plaque "
            "will be placed at the foot of the tower in the spring, the harbour master said. "
            f"The light will now be watched from a control room {5 + i} miles inland.")


def page(title: str, text: str, published: str) -> bytes:
    paras = "".join(f"<p>{escape(p)}.</p>" for p in text.split(". ") if p)
    return (f"<!DOCTYPE html><html><head><title>{escape(title)}</title>"
            f'<meta property="article:published_time" content="{published}">'
            '<meta property="og:site_name" content="Bench Gazette"></head><body><article>'
            f"<h1>{escape(title)}</h1>{paras}</article></body></html>").encode()


class BenchSite:
    """Feeds /feed/K.xml listing pages /a/N; thread-safe additions."""

    def __init__(self, feeds: int):
        self.pages: dict[str, bytes] = {}
        self.feed_items: list[list[tuple[str, str]]] = [[] for _ in range(feeds)]
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a) -> None:
                pass

            def do_GET(self) -> None:
                body, ctype = site.get(self.path)
                tag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"' if body else None
                status = 200 if body else 404
                if tag and self.headers.get("If-None-Match") == tag:
                    status, body = 304, b""
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                if tag:
                    self.send_header("ETag", tag)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def add(self, feed: int, path: str, title: str, body: bytes) -> None:
        with self.lock:
            self.pages[path] = body
            self.feed_items[feed].insert(0, (path, title))

    def get(self, path: str) -> tuple[bytes, str]:
        with self.lock:
            if path.startswith("/feed/"):
                k = int(path.split("/")[-1].split(".")[0])
                items = "".join(
                    f"<item><title>{escape(t)}</title><link>{self.url}{p}</link>"
                    f"<guid>{self.url}{p}</guid></item>" for p, t in self.feed_items[k][:200])
                return (f"<rss version='2.0'><channel><title>Bench Gazette {k}</title>{items}"
                        "</channel></rss>").encode(), "application/rss+xml"
            return self.pages.get(path, b""), "text/html; charset=utf-8"

    def feeds(self) -> list[str]:
        return [f"{self.url}/feed/{k}.xml" for k in range(len(self.feed_items))]


def throughput(site: BenchSite, data_dir: Path) -> dict:
    from ingest.watch import Watcher
    from rag.index import Index
    from rag.settings import Settings

    settings = Settings(data_dir=data_dir, watch_delay=0.0, watch_per_host=2)
    index = Index.open(settings)
    index.embedder.embed_batch(["warm up"])
    watcher = Watcher(index, site.feeds())
    t0 = time.perf_counter()
    reports = watcher.poll()
    seconds = time.perf_counter() - t0
    stored = sum(r.outcomes["stored"] for r in reports)
    fetched = sum(r.fetched for r in reports)
    chunks = index.catalog.counts()["chunks"]
    t1 = time.perf_counter()
    again = watcher.poll()
    second = time.perf_counter() - t1
    watcher.close()
    index.close()
    return {"feeds": len(reports), "pages_fetched": fetched, "stored": stored, "chunks": chunks,
            "seconds": round(seconds, 1), "pages_per_s": round(fetched / seconds, 2),
            "stored_per_s": round(stored / seconds, 2), "chunks_per_s": round(chunks / seconds, 2),
            "second_poll_seconds": round(second, 2),
            "second_poll_statuses": sorted({r.status for r in again})}


def freshness(site: BenchSite, data_dir: Path, items: int, every: float) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "NEWSRAG_FEEDS": ",".join(site.feeds()), "NEWSRAG_WATCH_DELAY": "0",
           "NEWSRAG_WATCH_PER_HOST": "2",
           "NEWSRAG_RATE_LIMIT_PER_MINUTE": "100000"}  # the asking loop is one client
    log = open(data_dir.parent / "serve.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "ui.cli", "serve", "--watch", "--every",
                             f"{every}s", "--port", str(port), "--data-dir", str(data_dir)],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    latencies, asks = [], []
    try:
        _wait_healthy(url, proc)
        time.sleep(every)  # its first round of polls (all 304) is done
        for i in range(items):
            latencies.append(_time_to_answer(site, url, i, every, asks))
            print(f"item {i}: answered {latencies[-1]:.2f} s after it was published",
                  file=sys.stderr)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"poll_every_s": every, "items": len(latencies),
            "latency_s": [round(x, 2) for x in latencies],
            "median_s": round(statistics.median(latencies), 2), "p95_s": round(p95, 2),
            "ask_median_s": round(statistics.median(asks), 3)}


def _wait_healthy(url: str, proc: subprocess.Popen) -> None:
    """Until the server answers /api/health; RuntimeError if it exits first."""
    import httpx

    while True:
        try:
            if httpx.get(url + "/api/health", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("the server exited; see serve.log")
        time.sleep(0.5)


def _time_to_answer(site: BenchSite, url: str, i: int, every: float, asks: list[float]) -> float:
    """Publish item i, then ask about it until an answer cites it: the seconds in between
    (each ask's own time is added to asks)."""
    import httpx

    place, keeper = PLACES[i % len(PLACES)], KEEPERS[i % len(KEEPERS)]
    path = f"/new/{i}"
    text = keeper_story(i, place, keeper)
    site.add(i % len(site.feed_items), path, f"{place} lighthouse keeper retires",
             page(f"{place} lighthouse keeper retires", text, "2026-12-02T12:00:00Z"))
    t0 = time.monotonic()
    question = {"question": f"Who retired as keeper of the {place} lighthouse?",
                "as_of": "2026-12-03"}
    while True:
        ta = time.monotonic()
        r = httpx.post(url + "/api/ask", json=question, timeout=120)
        asks.append(time.monotonic() - ta)
        cited = [c.get("url") for c in r.json().get("citations", [])]
        if f"{site.url}{path}" in cited:
            return time.monotonic() - t0
        if time.monotonic() - t0 > 20 * every + 120:
            raise RuntimeError(f"item {i} never answered")
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.watch_bench")
    p.add_argument("--articles", type=int, default=2000)
    p.add_argument("--feeds", type=int, default=20)
    p.add_argument("--items", type=int, default=8, help="items timed for freshness")
    p.add_argument("--every", type=float, default=5.0, help="the server's poll interval, s")
    p.add_argument("--out", type=Path, help="also write the results here (JSON)")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    site = BenchSite(args.feeds)
    for n in range(args.articles):
        site.add(n % args.feeds, f"/a/{n}", f"District {n} board meets",
                 page(f"District {n} board meets", story(n), f"2026-11-{1 + n % 28:02d}T09:00:00Z"))
    work = Path(tempfile.mkdtemp(prefix="newsrag-watch-bench-"))
    results = {"articles": args.articles, "feeds": args.feeds,
               "throughput": throughput(site, work / "data")}
    print(json.dumps(results["throughput"]), file=sys.stderr)
    results["freshness"] = freshness(site, work / "data", args.items, args.every)
    print(json.dumps(results, indent=2))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
