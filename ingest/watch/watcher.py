"""The watcher: polls sources, registers their items in the catalog, fetches and stores pages.

Crash-safe like ingest: a poll's validators are saved in the transaction that records the items
it found, an item is marked stored only after its article is committed, and articles go through
the `Ingestor` (pending, then done). Killed anywhere, a re-run fetches what was left and stores
nothing twice (an article's id comes from its canonical URL).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ingest.loaders import _gunzip
from ingest.loaders.common import SkipInput, fallback_title
from ingest.run import Ingestor
from ingest.watch.fetch import Fetcher, FetchResult
from ingest.watch.parse import FeedItem, SourceDoc, parse_source
from rag.errors import NewsragError, StoreError
from rag.index import Index
from rag.types import Article, Skip, canonical_url, sha1_hex, source_from_url

FEED_ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, "
               "application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.8, */*;q=0.5")
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
BACKLOG_BAR = 50  # a progress bar while at least this many pages wait
MAX_RETRY_WAIT = 6 * 3600.0
MAX_SITEMAP_DEPTH = 2  # an index of indexes of sitemaps, no deeper
log = logging.getLogger("newsrag.watch")


def parse_duration(text: str | float) -> float:
    """"90", "90s", "15m", "1h30m", "1d" -> seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    import re

    raw = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        return float(raw)
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([dhms])", raw)
    if not parts or re.sub(r"(\d+(?:\.\d+)?)\s*([dhms])", "", raw).strip():
        raise NewsragError(f"{text!r} is not a duration: expected e.g. 30s, 15m, 1h30m or 1d")
    seconds = sum(float(n) * {"d": 86400, "h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
    if seconds <= 0:
        raise NewsragError(f"The poll interval {text!r} must be more than 0 seconds")
    return seconds


def article_id_for(url: str) -> str | None:
    """The id `Article.create` gives an article with this URL (see rag.types)."""
    curl = canonical_url(url)
    return "a" + sha1_hex(f"url:{curl}")[:15] if curl else None


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _same_site(a: str | None, b: str | None) -> bool:
    strip = lambda u: _host(u).removeprefix("www.")
    return bool(a and b) and strip(a) == strip(b)


@dataclass
class PollReport:
    source: str
    kind: str | None = None
    status: int | None = None
    error: str | None = None
    items: int = 0  # in the document
    new: int = 0
    changed: int = 0
    fetched: int = 0  # pages requested
    outcomes: Counter = field(default_factory=Counter)  # stored, updated, unchanged, ...
    problems: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    next_poll: float | None = None
    started: float = field(default_factory=time.time)

    @property
    def failed(self) -> bool:
        """What `newsrag watch --once` exits 1 for: the source, or an item, failed for good."""
        return bool(self.error) or any(self.outcomes[k] for k in ("failed", "dead", "refused"))

    def problem(self, url: str, state: str, why: str) -> None:
        if len(self.problems) < 50:
            self.problems.append({"url": url, "state": state, "reason": why})

    def to_dict(self) -> dict[str, Any]:
        keys = ("stored", "updated", "unchanged", "duplicates", "waiting", "failed", "dead",
                "refused")
        return {"time": _clock(self.started, full=True), "source": self.source,
                "kind": self.kind, "http_status": self.status, "error": self.error,
                "items": self.items, "new": self.new, "changed": self.changed,
                "fetched": self.fetched, **{k: self.outcomes[k] for k in keys},
                "seconds": round(self.seconds, 3),
                "next_poll": _clock(self.next_poll, full=True) if self.next_poll else None,
                "problems": self.problems}

    def line(self) -> str:
        d = self.to_dict()
        head = f"{d['time']} {self.source}: " + (
            f"HTTP {self.status}" if self.status else "no answer")
        if self.error:
            head += f" ({self.error})"
        elif self.status == 304:
            head += " not modified"
        elif self.kind:
            head += f" {self.kind}, {self.items} items ({self.new} new, {self.changed} changed)"
        counts = ", ".join(f"{k} {d[k]}" for k in ("stored", "updated", "unchanged", "duplicates",
                                                   "waiting", "failed", "dead", "refused") if d[k])
        return (f"{head}; fetched {self.fetched}" + (f", {counts}" if counts else "")
                + f"; {self.seconds:.1f} s"
                + (f"; next poll {_clock(self.next_poll)}" if self.next_poll else ""))


def _clock(ts: float | None, full: bool = False) -> str:
    if ts is None:
        return "?"
    return time.strftime("%Y-%m-%d %H:%M:%S" if full else "%H:%M:%S", time.localtime(ts))


@dataclass
class _Stored:
    row: dict[str, Any]
    update: dict[str, Any]


class Watcher:
    """Follows `sources` into `index`; `poll()` once, or `run()` until `stop` is set."""

    def __init__(self, index: Index, sources: Sequence[str], *, every: float = 900.0,
                 stop: threading.Event | None = None, progress: bool = False,
                 clock: Callable[[], float] = time.time):
        if index.readonly:
            raise index.catalog.cannot_write("follow feeds into this index")
        if not sources:
            raise NewsragError("No sources to watch: give feed, sitemap or page URLs, or set "
                               "feeds = [...] in newsrag.toml (or NEWSRAG_FEEDS).")
        self.index, self.sources, self.every = index, list(dict.fromkeys(sources)), every
        self.settings = index.settings
        self.stop = stop or threading.Event()
        self.fetcher = Fetcher.from_settings(self.settings, self.stop)
        self.progress, self.clock = progress, clock
        self.workers = max(2, 2 * self.settings.watch_per_host)
        self._done: list[_Stored] = []  # items whose articles await the next flush
        self._bar: Any = None

    def close(self) -> None:
        self.fetcher.close()

    # --- polling ---------------------------------------------------------------------------
    def run(self, on_report: Callable[[PollReport], None]) -> None:
        """Poll each source when it is due, until `stop` is set."""
        while not self.stop.is_set():
            for report in self.poll(due_only=True):
                on_report(report)
            now = self.clock()
            due = [self._due_at(s) for s in map(self.index.catalog.feed_source, self.sources)
                   if s and s["next_poll"]]
            self.stop.wait(max(0.05, min(due, default=now + self.every) - now))

    def _due_at(self, source: dict[str, Any]) -> float:
        """The next poll; a run with a shorter interval than the last one polls sooner."""
        return min(source["next_poll"] or 0, (source["last_poll"] or 0) + self.every)

    def poll(self, *, due_only: bool = False) -> list[PollReport]:
        """One poll of every source (`due_only`: of those whose next poll has come)."""
        catalog = self.index.catalog
        todo = [u for u in self.sources if not due_only or not (s := catalog.feed_source(u))
                or self._due_at(s) <= self.clock()]
        if not todo:
            return []
        try:
            with self.index.writing("follow feeds into this index"):
                self.index.recover()
                ingestor = Ingestor(self.index)
                reports: list[PollReport] = []
                for url in todo:
                    if self.stop.is_set():
                        break
                    try:
                        reports += self._poll_source(url, ingestor, parent=None)
                    except StoreError:
                        raise  # the index cannot be written: nothing else will work either
                    except Exception as e:  # one odd source must not stop the others
                        log.exception("polling %s failed", url)
                        self._flush(ingestor)
                        reports.append(PollReport(url, error=f"internal error: "
                                                  f"{type(e).__name__}: {e}"))
                return reports
        except StoreError as e:
            if "Another ingest" not in str(e):
                raise
            return [PollReport(u, error=f"skipped: {e}") for u in todo]

    def _poll_source(self, url: str, ing: Ingestor, parent: str | None,
                     home: str | None = None, depth: int = 0) -> list[PollReport]:
        t0, now = time.perf_counter(), self.clock()
        report = PollReport(url, started=now)
        catalog = self.index.catalog
        src = catalog.feed_source(url) or {}
        home = home or _host(url)  # a configured URL is fetched as given: its host is trusted
        result = self.fetcher.get(url, home=home, etag=src.get("etag"),
                                  last_modified=src.get("last_modified"), accept=FEED_ACCEPT)
        report.status = result.status
        row: dict[str, Any] = {"url": url, "parent": parent, "last_poll": now,
                               "last_status": result.status, "last_error": None,
                               "next_poll": now + self.every, "polls": (src.get("polls") or 0) + 1,
                               "added_at": src.get("added_at") or now}
        doc: SourceDoc | None = None
        items: list[dict[str, Any]] = []
        if result.ok:
            try:
                doc = parse_source(_body_text(result), result.url,
                                   result.headers.get("content-type", ""))
            except SkipInput as e:
                report.error = row["last_error"] = f"{e.reason}: {e.detail}"
                row.update(etag=None, last_modified=None)  # read it whole next time
            else:
                row["kind"] = report.kind = doc.kind
                report.items = len(doc.items)
                row.update(etag=result.headers.get("etag"), title=doc.title or src.get("title"),
                           last_modified=result.headers.get("last-modified"))
                items = self._register(url, doc, report, now)
        elif not result.not_modified:
            report.error = row["last_error"] = (
                f"HTTP {result.status}" if result.error is None else result.describe())
        else:
            report.kind = src.get("kind")
        catalog.write_feed_state([row], items)
        reports = [report]
        if doc is not None and doc.kind == "page" and result.ok:
            self._process_page(url, result, ing, report, src_title=None)
        else:
            self._fetch_due(url, home, ing, report, site=row.get("title") or src.get("title"))
        self._flush(ing)
        report.seconds = time.perf_counter() - t0
        report.next_poll = row["next_poll"]
        if doc is not None and doc.children:
            if depth >= MAX_SITEMAP_DEPTH:
                report.error = f"sitemap indexes nested deeper than {MAX_SITEMAP_DEPTH}: ignored"
            for child in doc.children if depth < MAX_SITEMAP_DEPTH else ():
                if self.stop.is_set():
                    break
                if child != url:  # an index that lists itself
                    reports += self._poll_source(child, ing, parent=url, home=home,
                                                 depth=depth + 1)
        return reports

    def _register(self, source: str, doc: SourceDoc, report: PollReport,
                  now: float) -> list[dict[str, Any]]:
        """Rows for the items not seen before, and for those the feed says have changed."""
        catalog = self.index.catalog
        rows: dict[str, dict[str, Any]] = {}
        for item in doc.items:
            key = (canonical_url(item.link) or item.link) if item.link else (
                f"guid:{item.guid}" if item.guid and item.fallback else None)
            if key is None or key in rows:
                continue
            fields = {"url": key, "link": item.link, "guid": item.guid, "title": item.title,
                      "published": item.published, "version": item.version,
                      "fallback": _dump(item.fallback), "updated_at": now}
            old = catalog.feed_item(key)
            if old is not None:
                if old["version"] != item.version and old["state"] in ("stored", "duplicate"):
                    rows[key] = {**fields, "state": "new", "tries": 0, "next_try": None}
                    report.changed += 1
                elif old["state"] in ("new", "retry"):
                    rows[key] = fields  # keep the feed's latest title, date and text
                continue
            if catalog.feed_item_known(item.guid, key):
                continue  # the same story under another link, or a page that names it canonical
            report.new += 1
            stored = article_id_for(item.link) if item.link else None
            done = stored and (art := catalog.article(stored)) and art.state == "done"
            rows[key] = {**fields, "source_url": source, "first_seen": now, "tries": 0,
                         "state": "stored" if done else "new",
                         "article_id": stored if done else None}
            if done:
                report.outcomes["unchanged"] += 1
        return list(rows.values())

    # --- items ---------------------------------------------------------------------------
    def _fetch_due(self, source: str, home: str, ing: Ingestor, report: PollReport,
                   site: str | None) -> None:
        due = self.index.catalog.feed_items_due(source, self.clock())
        if not due:
            return
        self._open_bar(len(due), source)
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="newsrag-fetch")
        try:
            futures = {}
            for row in due:
                if row["link"]:
                    futures[pool.submit(self.fetcher.get, row["link"], home=home,
                                        etag=row["etag"], last_modified=row["last_modified"],
                                        accept=PAGE_ACCEPT)] = row
                else:
                    self._item_failed(row, None, ing, report, "no link to fetch", site)
            for future in as_completed(futures):
                if self.stop.is_set():
                    break
                row = futures[future]
                report.fetched += 1
                self._item_done(row, future.result(), ing, report, site)
                if self._bar is not None:
                    self._bar.update(1)
                if len(self._done) >= self.settings.watch_flush_items:
                    self._flush(ing)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self._close_bar()

    def _process_page(self, url: str, result: FetchResult, ing: Ingestor, report: PollReport,
                      src_title: str | None) -> None:
        """A watched page: the source is its own single item."""
        key = canonical_url(url) or url
        row = self.index.catalog.feed_item(key) or {
            "url": key, "link": url, "source_url": url, "guid": None, "title": None,
            "published": None, "fallback": None, "tries": 0, "first_seen": self.clock()}
        report.fetched += 1
        self._item_done(row, result, ing, report, src_title, new_row=True)

    def _item_done(self, row: dict[str, Any], result: FetchResult, ing: Ingestor,
                   report: PollReport, site: str | None, new_row: bool = False) -> None:
        update: dict[str, Any] = {"url": row["url"], "http_status": result.status,
                                  "updated_at": self.clock()}
        if new_row:
            update.update({k: v for k, v in row.items() if k not in update})
        if result.not_modified:  # the feed said it changed; the page says it did not
            update.update(state="stored", error=None, tries=0, next_try=None)
            report.outcomes["unchanged"] += 1
            self._done.append(_Stored(row, update))
            return
        if not result.ok:
            why = result.describe()
            if result.status in (404, 410):
                self._item_gone(row, update, report, why)
            else:
                self._item_failed(row, update, ing, report, why, site,
                                  final=result.error in ("refused", "too large"))
            return
        try:
            found = _load_page(result)
        except SkipInput as e:
            found = Skip(result.url, e.reason, e.detail)
        if isinstance(found, Skip):
            self._item_failed(row, update, ing, report, f"{found.reason}: {found.detail}", site,
                              final=found.reason == "not a page")
            return
        art = _merge(found, row, result.url, site)
        if not _same_site(art.url, result.url):  # a page may not claim another site's article
            art = _merge(found, row, result.url, site, trust_url=False)
        update.update(etag=result.headers.get("etag"),
                      last_modified=result.headers.get("last-modified"),
                      canonical=canonical_url(art.url))
        self._store(art, row, update, ing, report)

    def _store(self, art: Article, row: dict[str, Any], update: dict[str, Any], ing: Ingestor,
               report: PollReport) -> None:
        rep = ing.report
        before = (rep.unchanged, sum(rep.duplicates.values()), sum(rep.skipped.values()))
        existed = self.index.catalog.article(art.id) is not None or any(
            d.update.get("article_id") == art.id for d in self._done)
        ing.add_article(art, row["link"] or row["url"])
        after = (rep.unchanged, sum(rep.duplicates.values()), sum(rep.skipped.values()))
        update.update(error=update.get("error"), tries=0, next_try=None, article_id=art.id)
        if after[0] > before[0]:
            update["state"] = "stored"
            report.outcomes["unchanged"] += 1
        elif after[1] > before[1]:
            update["state"] = "duplicate"
            report.outcomes["duplicates"] += 1
        elif after[2] > before[2]:
            update.update(state="failed", error="no text to index")
            report.outcomes["failed"] += 1
            report.problem(row["url"], "failed", "no text to index")
        else:
            update["state"] = "stored"
            report.outcomes["updated" if existed else "stored"] += 1
        self._done.append(_Stored(row, update))

    def _item_gone(self, row: dict[str, Any], update: dict[str, Any], report: PollReport,
                   why: str) -> None:
        tries = (row.get("tries") or 0) + 1
        dead = tries >= self.settings.watch_dead_after
        update.update(tries=tries, error=why, state="dead" if dead else "retry",
                      next_try=None if dead else self._retry_at(tries))
        report.outcomes["dead" if dead else "waiting"] += 1
        report.problem(row["url"], update["state"], why)
        self._done.append(_Stored(row, update))

    def _item_failed(self, row: dict[str, Any], update: dict[str, Any] | None, ing: Ingestor,
                     report: PollReport, why: str, site: str | None, final: bool = False) -> None:
        """No page: the feed's own text if it is a real article body, else wait (or give up)."""
        update = update or {"url": row["url"], "updated_at": self.clock()}
        fallback = _load(row.get("fallback"))
        if fallback is not None:
            art = _merge(fallback, row, row["link"] or fallback.url or "", site, from_feed=True)
            update["error"] = f"page: {why}; stored the feed's own text"
            self._store(art, row, update, ing, report)
            return
        tries = (row.get("tries") or 0) + 1
        refused = why.startswith("refused")
        gave_up = final or tries >= self.settings.watch_max_tries
        state = ("refused" if refused else "failed") if gave_up else "retry"
        update.update(tries=tries, error=why, state=state,
                      next_try=None if gave_up else self._retry_at(tries))
        report.outcomes["waiting" if state == "retry" else state] += 1
        report.problem(row["url"], state, why)
        self._done.append(_Stored(row, update))

    def _retry_at(self, tries: int) -> float:
        wait = self.settings.watch_retry_after * 2 ** (tries - 1)
        return self.clock() + min(wait, MAX_RETRY_WAIT)

    def _flush(self, ing: Ingestor) -> None:
        """Commit the articles of the items done, then (only then) mark the items."""
        ing.flush()
        if self._done:
            self.index.catalog.write_feed_state(items=[d.update for d in self._done])
            self._done.clear()

    # --- progress ------------------------------------------------------------------------
    def _open_bar(self, total: int, source: str) -> None:
        if self.progress and total >= BACKLOG_BAR:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=" pages", desc=_host(source), file=sys.stderr,
                             dynamic_ncols=True, leave=False)

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


# --- helpers ---------------------------------------------------------------------------------
def _body_text(result: FetchResult) -> str:
    body = result.body
    if body[:2] == b"\x1f\x8b":  # a .xml.gz sitemap, served as a file rather than encoded
        body, broken = _gunzip(body, 50_000_000)
        if broken:
            raise SkipInput("malformed feed", broken)
        result = dataclasses.replace(result, body=body, headers={})
    if not body.strip():
        raise SkipInput("malformed feed", "an empty response")
    return result.text()


def _load_page(result: FetchResult) -> Article | Skip:
    ctype = result.headers.get("content-type", "text/html").split(";")[0].strip().lower()
    if ctype and ctype not in ("text/html", "application/xhtml+xml", "text/plain", ""):
        return Skip(result.url, "not a page", f"Content-Type {ctype}")
    from ingest.loaders.html import load_html

    for found in load_html(result.text(), result.url):
        return found
    return Skip(result.url, "no article", "nothing in the page")


def _merge(page: Article, row: dict[str, Any], final_url: str, site: str | None, *,
           from_feed: bool = False, trust_url: bool = True) -> Article:
    """The page's own metadata first; the feed item's title, date and outlet as fallbacks."""
    title = page.title
    if row.get("title") and (not title or (not from_feed and title == fallback_title(page.text))):
        title = row["title"]
    url = (page.url if trust_url else None) or final_url or None
    source = page.source
    if not source or source == source_from_url(page.url):
        source = site or source_from_url(url)
    return Article.create(title=title, text=page.text, url=url, source=source,
                          authors=page.authors, published=page.published or row.get("published"),
                          origin=final_url or page.origin, external_id=row.get("guid"))


def _dump(art: Article | None) -> str | None:
    return json.dumps(dataclasses.asdict(art)) if art is not None else None


def _load(raw: str | None) -> Article | None:
    if not raw:
        return None
    data = json.loads(raw)
    data["authors"] = tuple(data.get("authors") or ())
    return Article(**data)


__all__ = ["FeedItem", "PollReport", "Watcher", "article_id_for", "parse_duration"]
