"""The push door: a newsroom's CMS stores an article now (`POST /api/articles`, a JSON record as
`newsrag ingest` reads them, or an HTML page with its URL) or takes one down (`DELETE
/api/articles/{id}`), through the index's one writer, behind the API's checks (docs/push.md)."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ingest.loaders.html import load_html
from ingest.loaders.records import ALIASES, make_article
from ingest.run import Ingestor
from rag.errors import NewsragError, StoreError
from rag.types import Article, Skip
from ui.guard import strict_json

PUSHED = "push:"  # the "file" a pushed article is recorded under: push:URL (or push:ID)
FIELDS = {name.lower() for names in ALIASES.values() for name in names}
WAIT_FOR_WRITER = 10.0  # seconds a push waits for another writer before its 409
HTML_TYPES = ("text/html", "application/xhtml+xml")
NO_KEY = ("Pushing and deleting articles needs an API key: set NEWSRAG_API_KEY (or api_key in "
          "newsrag.toml) on the server, and send it as X-API-Key or Authorization: Bearer. "
          "Without a key the index is read-only over HTTP.")


class Pusher:
    """Writes pushed articles with a catalog connection of its own (as the feed watcher does),
    the readers' vector store and embedder: answerable as soon as the call returns."""

    def __init__(self, index: Any, wait: float | None = None):
        self.index, self.wait = index, WAIT_FOR_WRITER if wait is None else wait

    @contextmanager
    def writer(self, action: str) -> Iterator[Any]:
        """The index's one writer for this push: waits up to `wait` seconds for another writer
        (an ingest, a watcher) to finish, then refuses with a 409 that says so."""
        from rag.catalog import open_catalog
        from rag.index import Index

        catalog = open_catalog(self.index.settings)
        try:
            own = Index(self.index.settings, catalog, self.index.store, self.index.embedder)
            with ExitStack() as held:
                deadline = time.monotonic() + self.wait
                while True:
                    try:
                        held.enter_context(own.writing(action))
                        break
                    except StoreError as e:
                        if "Another ingest" not in str(e):
                            raise
                        if time.monotonic() >= deadline:
                            raise HTTPException(409, (
                                f"Not stored: another writer holds the index's lock (an "
                                f"ingest, `newsrag watch` or the server's feed watcher; {e}). "
                                "Nothing was written: try again when it is done."),
                                headers={"Retry-After": str(int(self.wait))}) from None
                        time.sleep(0.2)
                own.recover()
                yield own
        finally:
            catalog.close()

    def store(self, articles: list[Article]) -> list[dict[str, Any]]:
        """Store the articles as an ingest would (dedup, updates); what became of each."""
        with self.writer("store pushed articles") as index:
            ing = Ingestor(index)
            rep, out = ing.report, []
            for art in articles:
                before = (rep.unchanged, dict(rep.duplicates), sum(rep.skipped.values()))
                existed = index.catalog.article(art.id) is not None
                ing.add_article(art, PUSHED + (art.url or art.id))
                out.append({"id": art.id, "title": art.title, "url": art.url,
                            "status": _status(before, rep, existed)})
                if out[-1]["status"] == "duplicate":  # of a stored article, or of one earlier
                    # in this push under the same id (not recorded: it is the same article)
                    out[-1]["duplicate_of"] = index.catalog.duplicate_of(art.id) or art.id
            ing.flush()
        return out

    def delete(self, article_id: str) -> dict[str, Any]:
        with self.writer("delete a pushed article") as index:
            stored = index.catalog.article(article_id)
            if stored is None:
                raise HTTPException(404, f"No article has the id {article_id!r}: ids are those "
                                         "POST /api/articles returned (or a citation's "
                                         "article_id).")
            index.remove([article_id])
        return {"id": article_id, "title": stored.title, "status": "deleted"}


def _status(before: tuple, rep: Any, existed: bool) -> str:
    unchanged, duplicates, skipped = before
    if rep.unchanged > unchanged:
        return "unchanged"
    if dict(rep.duplicates) != duplicates:
        return "duplicate"
    if sum(rep.skipped.values()) > skipped:
        return "skipped"
    return "updated" if existed else "stored"


# --- reading a push --------------------------------------------------------------------------
def articles_from(body: bytes, content_type: str, url: str | None) -> list[Article]:
    """The pushed articles, or a 422 naming what is wrong with which."""
    if content_type.split(";")[0].strip().lower() in HTML_TYPES:
        return [_page(body, url)]
    try:
        data = strict_json(body)
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    if isinstance(data, dict) and set(data) == {"articles"}:
        data = data["articles"]
    records = data if isinstance(data, list) else [data]
    if not records:
        raise HTTPException(422, "No articles: send one record, a list of them, or "
                                 "{\"articles\": [...]}.")
    return [_record(r, i, len(records)) for i, r in enumerate(records, 1)]


def _record(record: Any, n: int, count: int) -> Article:
    where = f"article {n}: " if count > 1 else ""
    if not isinstance(record, dict):
        raise HTTPException(422, f"{where}expected a JSON object (a record), got "
                                 f"{type(record).__name__}")
    unknown = sorted(k for k in record if str(k).lower() not in FIELDS)
    if unknown:
        raise HTTPException(422, f"{where}unknown field{'s' * (len(unknown) > 1)} "
                                 f"{', '.join(map(repr, unknown))}. Valid fields are: "
                                 f"{', '.join(sorted(FIELDS))}")
    title = next((record[k] for k in record if str(k).lower() in ALIASES["title"]), None)
    if not isinstance(title, str) or not title.strip():
        raise HTTPException(422, f"{where}no title: give the headline as 'title' (a string)")
    article = make_article(record, f"push#{n}", {})
    if isinstance(article, Skip):
        raise HTTPException(422, f"{where}no text: give the body as 'text' (or "
                                 f"{', '.join(ALIASES['text'][1:])}): {article.detail}")
    # an ingest reads what it can of a file; a push that sends a date or a link means it
    for target, kept, expected in (
            ("published", article.published, "a date such as 2026-11-28T09:00:00Z"),
            ("url", article.url, "an http(s) URL")):
        given = [record[k] for k in record if str(k).lower() in ALIASES[target]]
        if kept is None and any(v not in (None, "") for v in given):
            shown = json.dumps(given[0], ensure_ascii=False)[:80]
            raise HTTPException(422, f"{where}{target}: {shown} is not {expected}")
    return article


def _page(body: bytes, url: str | None) -> Article:
    if not url or not url.lower().startswith(("http://", "https://")):
        raise HTTPException(422, "An HTML page needs its URL: POST /api/articles?url=https://...")
    html = body.decode("utf-8", "replace")
    found = next(iter(load_html(html, url)), None)
    if found is None or isinstance(found, Skip):
        why = found.detail if found is not None else "nothing read"
        raise HTTPException(422, f"No article in the page: {why}")
    if found.url:
        return found
    return Article.create(title=found.title, text=found.text, url=url, source=found.source,
                          authors=found.authors, published=found.published, origin=url)


# --- the routes ------------------------------------------------------------------------------
def add_push_routes(app: FastAPI, rag: Any, checks: Any) -> None:
    from ui.server import _http_error

    if getattr(rag, "index", None) is None:
        return  # a pipeline without an index of its own (a test's stand-in) takes no pushes
    pusher = Pusher(rag.index)

    def key_set() -> None:
        if not checks.settings.api_key:
            raise HTTPException(403, NO_KEY)

    writers = [Depends(key_set), *checks.limited]

    @app.post("/api/articles", tags=["push"], dependencies=writers, status_code=201,
              responses={200: {}, 401: {}, 403: {}, 409: {}, 413: {}, 422: {}, 429: {}},
              openapi_extra={"requestBody": {"content": {
                  "application/json": {"schema": {"type": "object"}},
                  "text/html": {"schema": {"type": "string"}}}}})
    async def push(request: Request, url: str | None = None) -> JSONResponse:
        """Store articles now: one JSON record (title, text, url, published, source, authors,
        id, or their aliases as `newsrag ingest` reads them), a list, `{"articles": [...]}`, or
        an HTML page (Content-Type text/html) with `?url=`. 201 when one was stored or updated,
        200 when all were unchanged or duplicates."""
        articles = articles_from(await request.body(), request.headers.get("content-type", ""),
                                 url)
        try:
            results = await run_in_threadpool(pusher.store, articles)
        except NewsragError as e:
            raise _http_error(e, reader=False) from None
        stored = any(r["status"] in ("stored", "updated") for r in results)
        return JSONResponse({"articles": results}, status_code=201 if stored else 200)

    @app.delete("/api/articles/{article_id}", tags=["push"], dependencies=writers,
                responses={401: {}, 403: {}, 404: {}, 409: {}, 429: {}})
    async def delete(article_id: str) -> dict[str, Any]:
        """Take an article down: its passages are no longer searched or cited."""
        try:
            return await run_in_threadpool(pusher.delete, article_id)
        except NewsragError as e:
            raise _http_error(e, reader=False) from None
