"""`newsrag watch`, the watcher inside `newsrag serve --watch`, and how fresh the index is."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from rag.errors import NewsragError
from rag.settings import Settings

EXIT_FAILED = 1


def _sources(urls: Sequence[str], settings: Settings) -> list[str]:
    found = [u for raw in (list(urls) or list(settings.feeds)) for u in raw.split()]
    if not found:
        raise NewsragError("No sources to watch: give feed, sitemap or page URLs "
                           "(`newsrag watch URL...`), or set feeds = [...] in newsrag.toml or "
                           "NEWSRAG_FEEDS=URL,URL.")
    bad = [u for u in found if not u.lower().startswith(("http://", "https://"))]
    if bad:
        raise NewsragError(f"Only http and https URLs can be watched; got {', '.join(bad)}")
    return found


def watch(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.watch import Watcher, parse_duration
    from rag.index import Index

    sources = _sources(args.urls, settings)
    every = parse_duration(settings.watch_every)
    stop = threading.Event()
    index = Index.open(settings)
    try:
        watcher = Watcher(index, sources, every=every, stop=stop,
                          progress=not (args.json or args.no_progress) and sys.stderr.isatty())

        def show(report: Any) -> None:
            text = json.dumps(report.to_dict(), ensure_ascii=False) if args.json else report.line()
            print(text, flush=True)
            if not args.json:
                for p in report.problems[:10]:
                    print(f"  {p['state']} {p['url']}: {p['reason']}", flush=True)

        try:
            if args.once:
                reports = watcher.poll()
                for r in reports:
                    show(r)
                return EXIT_FAILED if any(r.failed for r in reports) else 0
            previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
            try:
                watcher.run(show)
            except KeyboardInterrupt:
                stop.set()
            finally:
                signal.signal(signal.SIGTERM, previous)
            print("newsrag: watch stopped", file=sys.stderr)
            return 0
        finally:
            watcher.close()
    finally:
        index.close()


class BackgroundWatcher:
    """The watcher in a thread of the serving process: its own catalog connection (so that the
    readers' catalog notices each commit (`version()`), as with an ingest in
    another process), the readers' Chroma store and embedder (so that an embedded store sees
    the new vectors at once)."""

    def __init__(self, index: Any, settings: Settings,
                 on_report: Callable[[Any], None] | None = None):
        from ingest.watch import Watcher, parse_duration
        from rag.catalog import open_catalog
        from rag.index import Index

        self.stop = threading.Event()
        self.catalog = open_catalog(settings)
        own = Index(settings, self.catalog, index.store, index.embedder)
        self.watcher = Watcher(own, _sources((), settings), every=parse_duration(
            settings.watch_every), stop=self.stop)
        self.on_report = on_report or (lambda r: print(f"newsrag watch: {r.line()}", flush=True))
        self.thread = threading.Thread(target=self._run, name="newsrag-watch", daemon=True)

    def start(self) -> BackgroundWatcher:
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self.watcher.run(self.on_report)
            except Exception as e:  # noqa: BLE001 - the server keeps answering; retry later
                print(f"newsrag watch: error: {e}", file=sys.stderr, flush=True)
                self.stop.wait(60)
        self.watcher.close()
        self.catalog.close()

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self.thread.join(timeout)


# --- what operators and readers see ----------------------------------------------------------
def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "never"


def feed_lines(feeds: Sequence[dict[str, Any]]) -> list[str]:
    """One line per source for `newsrag stats`."""
    lines = []
    for f in feeds:
        n = f["items"]
        status = f["http_status"] if f["http_status"] is not None else "-"
        lines.append(
            f"{'  ' if f['parent'] else ''}{f['url']} ({f['kind'] or '?'}): last poll "
            f"{_when(f['last_poll'])}, HTTP {status}"
            + (f" ({f['error']})" if f["error"] else "")
            + f"; items seen {n['seen']}, stored {n['stored']}, duplicates {n['duplicate']}, "
            f"waiting {n['new'] + n['retry']}, failed {n['failed']}, dead {n['dead']}, refused "
            f"{n['refused']}; next poll {_when(f['next_poll'])}")
    return lines


def freshness(stats: dict[str, Any]) -> str | None:
    """"News up to 2026-06-09 14:40, 3 feeds (checked 14:52)", when feeds are followed."""
    feeds = [f for f in stats.get("feeds") or [] if not f.get("parent")]
    if not feeds:
        return None
    last = (stats.get("date_range") or [None, None])[1]
    newest = (last or "?")[:16].replace("T", " ")
    polled = max((f["last_poll"] or 0 for f in feeds), default=0)
    checked = time.strftime("%Y-%m-%d %H:%M", time.localtime(polled)) if polled else "not yet"
    return (f"News up to {newest}, {len(feeds)} feed{'s' * (len(feeds) != 1)} "
            f"(last checked {checked})")


def stats_with_feeds(rag: Any) -> dict[str, Any]:
    """The index's stats, with each followed source (for /api/stats and the chat)."""
    stats = dict(rag.stats())
    catalog = getattr(getattr(rag, "index", None), "catalog", None)
    stats["feeds"] = catalog.feed_report() if catalog is not None else []
    return stats
