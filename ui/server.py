"""The one web server: JSON API under /api/, the widget, the embed page and the Gradio chat at /."""
from __future__ import annotations

import hmac
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from datetime import date
from itertools import chain
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.errors import AnswererError, EmptyIndexError, InvalidQuestionError, NewsragError
from rag.settings import Settings
from rag.types import answer_to_dict

STATIC = Path(__file__).resolve().parent / "static"
MAX_HISTORY_TURNS = 20
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

    @model_validator(mode="after")
    def _dates_in_order(self) -> AskRequest:
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"'since' {self.since} is after 'until' {self.until}")
        per_turn = 1 if self.history and isinstance(self.history[0], tuple) else 2
        if self.history and len(self.history) > per_turn * MAX_HISTORY_TURNS:
            raise ValueError(f"history is longer than {MAX_HISTORY_TURNS} turns")
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
        return pairs[-MAX_HISTORY_TURNS:]

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


class SentenceOut(BaseModel):
    text: str
    citations: list[int]
    support: float
    supported: bool


class AskResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    question: str
    answer: str = Field(description="the answer with inline [n] markers")
    abstained: bool = Field(description="true when the indexed news does not cover the question")
    citations: list[CitationOut]
    sentences: list[SentenceOut]
    query: str
    as_of: str | None
    timings_ms: dict[str, float]


# --- guards: origin, API key, rate limit, body size --------------------------------------
class RateLimiter:
    """A sliding one-minute window per client, kept in this process only."""

    def __init__(self, per_minute: int, window: float = 60.0):
        self.per_minute, self.window = per_minute, window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, client: str) -> float | None:
        """Count a request; None if allowed, else the seconds until one is allowed again."""
        if self.per_minute <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(client, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return max(0.1, hits[0] + self.window - now)
            hits.append(now)
            if len(self._hits) > 10_000:  # forget idle clients
                for k in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
                    del self._hits[k]
            return None

    def message(self, retry: float) -> str:
        return (f"Too many requests: the limit is {self.per_minute} questions per minute per "
                f"client (counted per server process). Try again in {retry:.0f} s.")


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes under `prefix` gets a 413."""

    def __init__(self, app: ASGIApp, limit: int, prefix: str = "/api/"):
        self.app, self.limit, self.prefix = app, limit, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await self._reject(scope, receive, send)
        seen, started, rejected = 0, False, False

        async def counting_receive() -> Message:
            nonlocal seen, rejected
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit and not rejected:
                rejected = True
                if not started:
                    await self._reject(scope, receive, send)
                return {"type": "http.disconnect"}  # the app stops reading; its reply is dropped
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not rejected:
                raise

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"The request body is larger than {self.limit} bytes."
        await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)


def client_id(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def same_origin(origin: str, request: Request) -> bool:
    """The page calling is served by this server (as seen directly or through a proxy)."""
    hosts = {request.headers.get(h, "").lower() for h in ("host", "x-forwarded-host")}
    return urlsplit(origin).netloc.lower() in hosts - {""}


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
                    "comes from. The chat is at `/`, the widget script at `/widget.js`.")
    app.state.rag, app.state.settings, app.state.limiter = rag, settings, limiter
    allowed = set(settings.cors_origins)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    if allowed:  # added last = outermost, so that 413s and 429s also carry the CORS headers
        app.add_middleware(
            CORSMiddleware, allow_origins=sorted(allowed), allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", "Authorization"], max_age=600)

    def check_origin(request: Request) -> None:
        origin = request.headers.get("origin")
        if origin and origin not in allowed and "*" not in allowed and not same_origin(
                origin, request):
            raise HTTPException(403, f"Origin {origin} is not allowed: add it to "
                                     "NEWSRAG_CORS_ORIGINS (comma-separated) on the server.")

    def check_key(request: Request) -> None:
        if settings.api_key and not hmac.compare_digest(
                (presented_key(request) or "").encode(), settings.api_key.encode()):
            raise HTTPException(401, "Missing or wrong API key: send it in the X-API-Key "
                                     "header or as Authorization: Bearer KEY.",
                                headers={"WWW-Authenticate": "Bearer"})

    def check_rate(request: Request) -> None:
        retry = limiter.hit(client_id(request))
        if retry is not None:
            raise HTTPException(429, limiter.message(retry),
                                headers={"Retry-After": str(int(retry + 0.999))})

    guarded = [Depends(check_origin), Depends(check_key)]
    limited = guarded + [Depends(check_rate)]

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={
            "detail": "; ".join(_describe(e) for e in exc.errors()),
            "errors": json.loads(json.dumps(exc.errors(), default=str))})

    @app.get("/api/health", tags=["api"])
    def health() -> dict[str, Any]:
        """Liveness, and how much is indexed."""
        stats = rag.stats()
        return {"status": "ok" if stats["articles"] else "empty", "articles": stats["articles"],
                "chunks": stats["chunks"]}

    @app.get("/api/stats", tags=["api"], dependencies=guarded)
    def stats() -> dict[str, Any]:
        """What is indexed: articles, chunks, outlets, date range, embedder."""
        return rag.stats()

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

    @app.get("/widget.js", include_in_schema=False)
    def widget() -> FileResponse:
        return FileResponse(STATIC / "widget.js", media_type="text/javascript", headers={
            "Cache-Control": "public, max-age=300", "Cross-Origin-Resource-Policy": "cross-origin"})

    @app.get("/embed", include_in_schema=False)
    def embed() -> FileResponse:
        return FileResponse(STATIC / "embed.html", media_type="text/html", headers={
            "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                       "img-src 'self' data:; frame-ancestors *"})

    if chat:
        import gradio as gr

        from ui.chat import CSS, build_chat

        blocks = build_chat(rag, settings, limiter)
        app = gr.mount_gradio_app(app, blocks, path="/", footer_links=[], ssr_mode=False,
                                  show_error=True, css=CSS)
    return app


# --- helpers -----------------------------------------------------------------------------
_STATUS = [(InvalidQuestionError, 422), (EmptyIndexError, 503), (AnswererError, 502),
           (NewsragError, 400)]


def _http_error(e: NewsragError) -> HTTPException:
    status = next(code for kind, code in _STATUS if isinstance(e, kind))
    return HTTPException(status, str(e))


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
        yield f"event: error\ndata: {json.dumps({'detail': str(e)})}\n\n"
    except Exception:  # the response has begun: report in-band, log the rest
        log.exception("stream failed")
        yield f"event: error\ndata: {json.dumps({'detail': 'Internal error while answering.'})}\n\n"


def _describe(error: dict) -> str:
    if error.get("type") == "json_invalid":
        return f"body: not valid JSON ({error.get('ctx', {}).get('error', 'parse error')})"
    where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
    return f"{where}: {str(error.get('msg', 'invalid')).removeprefix('Value error, ')}"
