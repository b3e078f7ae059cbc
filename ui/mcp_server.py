"""The MCP door: tools `search_news`, `ask_news` and `news_index` (and the resource
newsrag://index) for agents and assistants, over streamable HTTP at /mcp behind the API's checks,
and over stdio (`newsrag mcp`) for a local assistant (docs/mcp.md)."""
from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from starlette.types import Receive, Scope, Send

from rag.errors import NewsragError
from rag.settings import Settings
from rag.types import answer_to_dict
from ui.errors import reader_message
from ui.guard import replay_body

PATH = "/mcp"
INSTRUCTIONS = (
    "newsrag answers questions about an indexed news collection. ask_news gives a short answer "
    "whose every sentence cites the passage it comes from ([n], with title, outlet, date, URL "
    "and the supporting span); it says 'The indexed news does not cover this.' rather than "
    "guess. search_news gives the passages themselves. news_index names the outlets and the "
    "date range. Dates are YYYY-MM-DD; as_of reads 'last week' or 'latest' against that day.")

Outlets = Annotated[list[str] | None, Field(
    description="only these outlets (names as news_index lists them)")]
Since = Annotated[date | None, Field(description="published on or after (YYYY-MM-DD)")]
Until = Annotated[date | None, Field(description="published on or before (YYYY-MM-DD)")]
AsOf = Annotated[date | None, Field(
    description="read 'last week', 'latest' against this day (default: today)")]


def build_server(rag: Any) -> Any:
    """An MCPServer whose tools ask `rag` (a NewsRAG)."""
    from mcp.server import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    server = MCPServer("newsrag", instructions=INSTRUCTIONS, version="0.1.0",
                       log_level="WARNING")
    # the SDK configures the root logger (a handler at its level): newsrag's logging stays its own
    root.handlers[:], root.level = handlers, level

    def filters(sources: list[str] | None, since: date | None, until: date | None,
                as_of: date | None) -> dict[str, Any]:
        return {"sources": sources or None, "since": since and since.isoformat(),
                "until": until and until.isoformat(), "as_of": as_of and as_of.isoformat()}

    @server.tool()
    def search_news(query: Annotated[str, Field(min_length=1, max_length=2000)],
                    sources: Outlets = None, since: Since = None, until: Until = None,
                    as_of: AsOf = None,
                    k: Annotated[int, Field(ge=1, le=20, description="passages")] = 6,
                    ) -> dict[str, Any]:
        """Search the indexed news: the passages that best match the query, each with its
        article's title, outlet, date and URL."""
        try:
            passages = rag.retrieve(query, k=k, **filters(sources, since, until, as_of))
        except NewsragError as e:
            raise ToolError(reader_message(e)) from None
        return {"query": query, "passages": [passage_to_dict(n, p)
                                             for n, p in enumerate(passages, 1)]}

    @server.tool()
    def ask_news(question: Annotated[str, Field(min_length=1, max_length=2000)],
                 as_of: AsOf = None, sources: Outlets = None, since: Since = None,
                 until: Until = None) -> dict[str, Any]:
        """Answer a question from the indexed news: a few sentences, each followed by [n], and
        the citations (title, outlet, date, URL, the passage and the supporting span). An
        answer the news does not support is "The indexed news does not cover this."."""
        try:
            answer = rag.ask(question, **filters(sources, since, until, as_of))
        except NewsragError as e:
            raise ToolError(reader_message(e)) from None
        return answer_to_dict(answer)

    @server.tool()
    def news_index() -> dict[str, Any]:
        """What is indexed: articles, passages, each outlet with its article count, and the
        dates of the oldest and newest article."""
        return index_summary(rag)

    @server.resource("newsrag://index", name="news_index", mime_type="application/json",
                     description="the outlets and date range of the indexed news")
    def index_resource() -> str:
        return json.dumps(index_summary(rag), ensure_ascii=False)

    return server


def passage_to_dict(number: int, p: Any) -> dict[str, Any]:
    c = p.chunk
    return {"number": number, "chunk_id": c.id, "article_id": c.article_id, "title": c.title,
            "source": c.source, "published": c.published, "url": c.url,
            "score": round(p.score, 5), "text": c.text, "start": c.start, "end": c.end}


def index_summary(rag: Any) -> dict[str, Any]:
    stats = rag.stats()
    first, last = stats.get("date_range") or (None, None)
    return {"articles": stats["articles"], "chunks": stats["chunks"],
            "outlets": stats.get("sources", {}), "date_range": {"first": first, "last": last}}


# --- over HTTP, on the server ------------------------------------------------------------
class McpDoor:
    """The ASGI endpoint at /mcp: the API's origin and key checks, the rate limit on each tool
    call, then the SDK's streamable HTTP transport (stateless, JSON replies). The transport
    runs within the app's lifespan (`running`), one per lifespan."""

    def __init__(self, server: Any, checks: Any):
        self.server, self.checks = server, checks
        self.running: list[Any] = []

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        from mcp.server.transport_security import TransportSecuritySettings

        # the Host and Origin checks are the API's own (ui/guard.py), behind proxies too
        app = self.server.streamable_http_app(
            streamable_http_path=PATH, stateless_http=True, json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
        async with app.router.lifespan_context(app):
            self.running.append(app)
            try:
                yield
            finally:
                self.running.remove(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            self.checks.check_origin(request)
            self.checks.check_key(request)
            if scope["method"] == "POST":
                body = await _body(receive)
                if body is None:
                    return  # the client left, or the body limit answered
                if _calls_a_tool(body):
                    self.checks.check_rate(request)
                receive = replay_body(body, receive)
        except HTTPException as e:
            return await JSONResponse({"detail": e.detail}, status_code=e.status_code,
                                      headers=e.headers)(scope, receive, send)
        if not self.running:
            return await JSONResponse({"detail": "The MCP door is not running yet."},
                                      status_code=503)(scope, receive, send)
        await self.running[-1](scope, receive, send)


async def _body(receive: Receive) -> bytes | None:
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def _calls_a_tool(body: bytes) -> bool:
    """A JSON-RPC message (or batch) calling a tool: what the rate limit counts, as it counts
    questions (not the handshake and listings around them)."""
    try:
        data = json.loads(body)
    except ValueError:
        return False
    messages = data if isinstance(data, list) else [data]
    return any(isinstance(m, dict) and m.get("method") == "tools/call" for m in messages)


def add_mcp_door(app: FastAPI, rag: Any, checks: Any) -> None:
    """Serve the MCP tools at /mcp, its transport running within the app's lifespan."""
    door = McpDoor(build_server(rag), checks)
    app.add_route(PATH, door, methods=["GET", "POST", "DELETE"], include_in_schema=False)
    previous = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with door.lifespan(), previous(a) as state:
            yield state

    app.router.lifespan_context = lifespan


# --- over stdio: `newsrag mcp` --------------------------------------------------------------
def run_stdio(settings: Settings) -> int:
    """Serve the tools on stdin/stdout to one local assistant, until stdin closes."""
    from rag.pipeline import NewsRAG

    with contextlib.redirect_stdout(sys.stderr):  # stdout carries the protocol alone
        rag = NewsRAG.open(settings)
        rag.index.embedder.embed_batch(["newsrag"])  # the model loads now, not on a question
    try:
        build_server(rag).run("stdio")
    finally:
        rag.close()
    return 0
