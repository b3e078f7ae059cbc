"""The one web server: JSON API under /api/, the widget, the embed page and the Gradio chat at /."""
from __future__ import annotations

import atexit
import json
import logging
import os
import re
from collections.abc import Iterator
from datetime import date
from itertools import chain
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.dates import LIMITS
from rag.errors import (
    AnswererError,
    EmptyIndexError,
    InvalidQuestionError,
    NewsragError,
    StoreError,
)
from rag.settings import Settings
from rag.types import HISTORY_TURNS_ACCEPTED, answer_to_dict
from ui.errors import reader_message
from ui.guard import (
    PROXIED,
    SESSION_COOKIE,
    SESSION_SECONDS,
    BodyLimit,
    Guard,
    RateLimiter,
    json_safe,
    key_matches,
    login_page,
    new_session,
    origin_allowed,
    presented_key,
    refused_origin,
    retry_seconds,
)
from ui.watching import BackgroundWatcher, stats_with_feeds

STATIC = Path(__file__).resolve().parent / "static"
# Swagger UI's files, packaged (fastapi-offline): /docs must not load them from a CDN
DOCS_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
               "favicon.png": "image/png"}
log = logging.getLogger("newsrag.server")


# --- request and response shapes ---------------------------------------------------------
class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str


class AskRequest(BaseModel):
    """A question, the conversation so far, and optional filters."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "question": "Who was appointed to mediate the Port Calder transit strike?",
        "history": [], "sources": None, "since": None, "until": None, "as_of": "2026-11-24"}]})
    question: str = Field(min_length=1, description="the question; its length limit is a setting")
    history: list[tuple[str, str]] | list[ChatMessage] | None = Field(
        None, description="earlier turns: [[user, assistant], ...] or [{role, content}, ...]")
    sources: list[str] | None = Field(None, description="only these outlets (names from /api/stats)")
    since: date | None = Field(None, description="published on or after (YYYY-MM-DD)")
    until: date | None = Field(None, description="published on or before (YYYY-MM-DD)")
    as_of: date | None = Field(None, description="read 'last week', 'latest' against this day")

    @field_validator("question")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the question is blank: ask something about the news")
        return v

    @field_validator("since", "until", "as_of", mode="before")
    @classmethod
    def _a_day(cls, v: Any) -> Any:
        # pydantic would read a number as a unix time and "0000-01-01" without naming the limits;
        # it turns a ValueError (not a TypeError) into a 422
        if isinstance(v, (int, float)):
            raise ValueError(  # noqa: TRY004
                f"expected a day as YYYY-MM-DD ({LIMITS}), not a number")
        if isinstance(v, str) and (m := re.match(r"\s*[+-]?(\d+)-", v)) and (
                len(m.group(1)) > 4 or not int(m.group(1))):
            raise ValueError(f"{v[:24]!r} is out of range: dates run from {LIMITS}")
        return v

    @model_validator(mode="after")
    def _dates_in_order(self) -> AskRequest:
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"'since' {self.since} is after 'until' {self.until}")
        per_turn = 1 if self.history and isinstance(self.history[0], tuple) else 2
        if self.history and len(self.history) > per_turn * HISTORY_TURNS_ACCEPTED:
            raise ValueError(f"history is longer than {HISTORY_TURNS_ACCEPTED} turns")
        return self

    def pairs(self) -> list[tuple[str, str]]:
        """The history as (user, assistant) pairs, whichever shape it came in."""
        if not self.history:
            return []
        if isinstance(self.history[0], tuple):
            return [tuple(p) for p in self.history]  # type: ignore[misc]
        pairs, user = [], None
        for m in self.history:  # type: ignore[union-attr]
            if m.role == "user":
                user = m.content
            elif user is not None:
                pairs.append((user, m.content))
                user = None
        return pairs[-HISTORY_TURNS_ACCEPTED:]

    def kwargs(self) -> dict[str, Any]:
        return {
            "history": self.pairs(),
            "sources": self.sources or None,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "as_of": self.as_of.isoformat() if self.as_of else None,
        }


class CitationOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    number: int
    chunk_id: str
    article_id: str
    title: str
    source: str | None
    url: str | None
    published: str | None
    passage: str = Field(description="the cited passage, verbatim")
    span_start: int = Field(description="start of the supporting span in the article text")
    span_end: int
    support: float


class SpanOut(BaseModel):
    citation: int = Field(description="the citation number this span belongs to")
    start: int = Field(description="start of the sentence's supporting span in that passage")
    end: int


class SentenceOut(BaseModel):
    text: str
    citations: list[int]
    support: float
    supported: bool
    attached: bool = Field(False, description="the answerer gave no marker; the checker found "
                                              "the supporting passage")
    spans: list[SpanOut] = Field([], description="where in each cited passage it is supported")
    reasons: list[str] = Field([], description="an unsupported sentence: which of its facts "
                                               "the passage does not support")


class WithdrawnOut(BaseModel):
    text: str = Field(description="a sentence the answerer wrote that no cited passage supports")
    reasons: list[str] = Field(description="why: '[n] <the fact passage n does not support>'")


class AskResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    question: str
    answer: str = Field(description="the answer with inline [n] markers")
    abstained: bool = Field(description="true when the indexed news does not cover the question")
    citations: list[CitationOut]
    sentences: list[SentenceOut]
    withdrawn: list[WithdrawnOut] = Field([], description="sentences withdrawn by the citation "
                                                          "check, not shown in the answer")
    query: str
    as_of: str | None
    timings_ms: dict[str, float]


def client_id(request: Request) -> str:
    """The client's address (behind a trusted proxy: the one it forwarded, see ui.guard)."""
    return request.client.host if request.client else "unknown"


# --- the app -----------------------------------------------------------------------------
def create_app(settings: Settings, rag: Any = None, *, chat: bool = True) -> FastAPI:
    """The FastAPI app; `rag` is a NewsRAG (opened from `settings` when not given)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    if rag is None:
        from rag.pipeline import NewsRAG

        rag = NewsRAG.open(settings)
    index = getattr(rag, "index", None)
    if index is not None:
        index.bm25  # noqa: B018 - load (or build) the lexical index now, not on the first question
    limiter = RateLimiter(settings.rate_limit_per_minute)
    app = FastAPI(
        title="newsrag", version="0.1.0",
        description="Ask the news: answers whose every claim cites the article passages it "
                    "comes from. The chat is at `/`, the widget script at `/widget.js`.",
        docs_url=None, redoc_url=None)  # /docs is served below, from packaged files
    app.state.rag, app.state.settings, app.state.limiter = rag, settings, limiter
    checks = _Checks(settings, limiter)
    _add_error_handlers(app)
    _add_api_routes(app, rag, checks)
    _add_pages(app)
    _add_chat_session(app, settings, checks)
    # the other doors (they import this module's shapes)
    from ui.mcp_server import add_mcp_door
    from ui.openai_api import add_openai_routes
    from ui.push import add_push_routes

    add_openai_routes(app, rag, checks)
    add_push_routes(app, rag, checks)
    add_mcp_door(app, rag, checks)
    if settings.watch and index is not None:
        # `serve --watch`: this process follows the feeds too (docs/watch.md)
        app.state.watcher = BackgroundWatcher(index, settings).start()
        atexit.register(app.state.watcher.close)
    _add_method_refusals(app)
    own = {route.path for route in app.routes}  # the JSON API, pages, docs: their own checks
    fn_indices: list[int] = []
    if chat:
        import gradio as gr

        from ui.chat import CITE_JS, CSS, build_chat

        blocks = build_chat(rag, settings, limiter)
        fn_indices = list(blocks.fns)
        app = gr.mount_gradio_app(app, blocks, path="/", footer_links=[], ssr_mode=False,
                                  show_error=True, css=CSS, js=CITE_JS, mcp_server=False)
    # innermost first: the guard sees bodies already size-limited; CORS headers go on every reply
    app.add_middleware(Guard, settings=settings, own=own, fn_indices=fn_indices)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes,
                       limits={"/api/articles": settings.max_push_bytes})
    if checks.allowed:
        app.add_middleware(
            CORSMiddleware, allow_origins=sorted(checks.allowed),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Content-Type", "X-API-Key", "Authorization",
                           "Mcp-Protocol-Version"], max_age=600)  # the last: MCP clients
    return app


class _Checks:
    """The JSON API's own checks, as FastAPI dependencies: origin, key, rate."""

    def __init__(self, settings: Settings, limiter: RateLimiter):
        self.settings, self.limiter = settings, limiter
        self.allowed = set(settings.cors_origins)
        self.guarded = [Depends(self.check_origin), Depends(self.check_key)]
        self.limited = self.guarded + [Depends(self.check_rate)]

    def origin_ok(self, request: Request, origin: str | None) -> bool:
        return not origin or origin_allowed(origin, request.headers, self.allowed,
                                            request.scope.get(PROXIED, False))

    def check_origin(self, request: Request) -> None:
        origin = request.headers.get("origin")
        if not self.origin_ok(request, origin):
            raise HTTPException(403, refused_origin(origin))

    def check_key(self, request: Request) -> None:
        key = self.settings.api_key
        if key and not key_matches(presented_key(request.headers), key):
            raise HTTPException(401, "Missing or wrong API key: send it in the X-API-Key "
                                     "header or as Authorization: Bearer KEY.",
                                headers={"WWW-Authenticate": "Bearer"})

    def check_rate(self, request: Request) -> None:
        retry = self.limiter.hit(client_id(request))
        if retry is not None:
            raise HTTPException(429, self.limiter.message(retry),
                                headers={"Retry-After": str(retry_seconds(retry))})


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = json_safe(exc.errors())
        return JSONResponse(status_code=422, content={
            "detail": "; ".join(_describe(e) for e in errors), "errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        cause = exc.__cause__
        if exc.status_code == 400 and isinstance(cause, (UnicodeDecodeError, RecursionError)):
            # FastAPI's "error parsing the body": the body is not JSON, like any other bad JSON
            why = "not UTF-8 text" if isinstance(cause, UnicodeDecodeError) else "nested too deeply"
            return JSONResponse(status_code=422,
                                content={"detail": f"body: not valid JSON ({why})"})
        return JSONResponse(status_code=exc.status_code, content={"detail": json_safe(exc.detail)},
                            headers=exc.headers)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after this reply, so the server logs the traceback
        return JSONResponse(status_code=500, content={"detail": "Internal error: it is logged."})


def _add_api_routes(app: FastAPI, rag: Any, checks: _Checks) -> None:
    guarded, limited = checks.guarded, checks.limited

    @app.get("/api/health", tags=["api"])
    def health() -> dict[str, Any]:
        """Liveness, and how much is indexed."""
        stats = rag.stats()
        return {"status": "ok" if stats["articles"] else "empty", "articles": stats["articles"],
                "chunks": stats["chunks"]}

    @app.get("/api/stats", tags=["api"], dependencies=guarded)
    def stats() -> dict[str, Any]:
        """What is indexed: articles, chunks, outlets, date range, embedder, and each followed
        feed (last poll, HTTP status, items seen, stored, failed, dead, next poll)."""
        return stats_with_feeds(rag)

    @app.post("/api/ask", tags=["api"], dependencies=limited, response_model=AskResponse,
              responses={401: {}, 403: {}, 413: {}, 422: {}, 429: {}, 503: {}})
    def ask(body: AskRequest) -> dict[str, Any]:
        """Answer a question from the indexed news, with numbered citations."""
        try:
            return answer_to_dict(rag.ask(body.question, **body.kwargs()))
        except NewsragError as e:
            raise _http_error(e) from None

    @app.post("/api/ask/stream", tags=["api"], dependencies=limited,
              responses={200: {"content": {"text/event-stream": {}}}})
    async def ask_stream(body: AskRequest) -> StreamingResponse:
        """The answer as server-sent events: `passages`, `delta` (verified text; append it),
        `reset` (replace the text so far), then `answer` (the /api/ask JSON) or `error`."""
        events = rag.ask_stream(body.question, **body.kwargs())
        first = await run_in_threadpool(_first, events)  # errors before any byte become 4xx
        return StreamingResponse(
            _sse(chain([first], events)), media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/api/origin", tags=["api"])
    def origin(request: Request) -> JSONResponse:
        """Whether the calling site's origin may use the API: readable from any origin, so the
        widget on a site that is not allowed can say so instead of "Failed to fetch"."""
        origin = request.headers.get("origin")
        allowed_here = checks.origin_ok(request, origin)
        body = {"origin": origin, "allowed": allowed_here}
        if not allowed_here:
            body["detail"] = refused_origin(origin)
        return JSONResponse(body, headers={"Access-Control-Allow-Origin": "*",
                                           "Cache-Control": "no-store"})


def _add_method_refusals(app: FastAPI) -> None:
    """A wrong method on an API route gets 405 with its Allow header: Starlette says so only
    when no other route matches the path, and the chat mounted at / matches every path."""
    methods: dict[str, set[str]] = {}
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path.startswith("/api/"):
            methods.setdefault(route.path, set()).update(route.methods - {"HEAD"})
    for path, allowed in methods.items():
        others = sorted({"GET", "POST", "PUT", "PATCH", "DELETE"} - allowed)
        app.add_api_route(path, _not_allowed(", ".join(sorted(allowed))), methods=others,
                          include_in_schema=False)


def _not_allowed(allow: str) -> Any:
    def refuse() -> JSONResponse:
        return JSONResponse({"detail": f"Method Not Allowed: use {allow}"}, status_code=405,
                            headers={"Allow": allow})
    return refuse


def _add_pages(app: FastAPI) -> None:
    """The API docs (from packaged files), the widget script and the embeddable page."""
    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> Any:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"), title="newsrag API",
            swagger_js_url=f"{root}/docs/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs/favicon.png")

    for name, media in DOCS_ASSETS.items():
        # a closure without parameters: a defaulted argument would be a query parameter
        # (`?name=../../etc/passwd`), and the file must be fixed by the route alone
        app.add_api_route(f"/docs/{name}", _asset_route(name, media), methods=["GET"],
                          include_in_schema=False)

    @app.get("/widget.js", include_in_schema=False)
    def widget() -> FileResponse:
        return FileResponse(STATIC / "widget.js", media_type="text/javascript", headers={
            "Cache-Control": "public, max-age=300", "Cross-Origin-Resource-Policy": "cross-origin"})

    @app.get("/embed", include_in_schema=False)
    def embed() -> FileResponse:
        return FileResponse(STATIC / "embed.html", media_type="text/html", headers={
            "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                       "img-src 'self' data:; frame-ancestors *"})


def _add_chat_session(app: FastAPI, settings: Settings, checks: _Checks) -> None:
    """The chat page's key login (a session cookie) and logout."""
    @app.post("/chat/login", include_in_schema=False, dependencies=[Depends(checks.check_origin)])
    async def chat_login(request: Request) -> Any:
        """The chat page's key prompt posts here; the right key earns a session cookie."""
        home = request.scope.get("root_path", "") + "/"
        if not settings.api_key or settings.chat_auth != "key":
            return RedirectResponse(home, status_code=303)
        checks.check_rate(request)
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        if not key_matches((form.get("key") or [""])[0], settings.api_key):
            return login_page(request.scope.get("root_path", ""), "That is not the key.")
        response = RedirectResponse(home, status_code=303)
        response.set_cookie(SESSION_COOKIE, new_session(settings.api_key),
                            max_age=SESSION_SECONDS, path=home, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https")
        return response

    @app.get("/chat/logout", include_in_schema=False)
    def chat_logout(request: Request) -> RedirectResponse:
        home = request.scope.get("root_path", "") + "/"
        response = RedirectResponse(home, status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=home)
        return response


# --- helpers -----------------------------------------------------------------------------
def _asset_route(name: str, media: str) -> Any:
    def asset() -> FileResponse:
        return FileResponse(_docs_assets() / name, media_type=media,
                            headers={"Cache-Control": "public, max-age=86400"})
    return asset


def _docs_assets() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


_STATUS = [(InvalidQuestionError, 422), (EmptyIndexError, 503), (StoreError, 503),
           (AnswererError, 502),
           (NewsragError, 400)]


def _http_error(e: NewsragError, reader: bool = True) -> HTTPException:
    """The error as an HTTP status and detail: told plainly to a reader (ui.errors), in full to
    the operator (the push door, behind the API key)."""
    status = next(code for kind, code in _STATUS if isinstance(e, kind))
    return HTTPException(status, reader_message(e) if reader else str(e))


def _first(events: Iterator[dict]) -> dict:
    try:
        return next(events)
    except NewsragError as e:
        raise _http_error(e) from None
    except StopIteration:
        raise HTTPException(500, "The pipeline ended without an answer.") from None


def _sse(events: Iterator[dict]) -> Iterator[str]:
    try:
        for event in events:
            name = event["event"]
            data = event["data"] if name == "answer" else {
                k: v for k, v in event.items() if k != "event"}
            yield f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
    except NewsragError as e:
        yield f"event: error\ndata: {json.dumps({'detail': reader_message(e)})}\n\n"
    except Exception:  # the response has begun: report in-band, log the rest
        log.exception("stream failed")
        yield f"event: error\ndata: {json.dumps({'detail': 'Internal error while answering.'})}\n\n"


def _describe(error: dict) -> str:
    if error.get("type") == "json_invalid":
        return f"body: not valid JSON ({error.get('ctx', {}).get('error', 'parse error')})"
    where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
    return f"{where}: {str(error.get('msg', 'invalid')).removeprefix('Value error, ')}"
