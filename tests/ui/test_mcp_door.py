"""The MCP door through the official `mcp` SDK's client: over streamable HTTP against a real
uvicorn over the demo index (behind the API key), and over stdio against `newsrag mcp`: tools
listed, both called, a bad argument a tool error (the session goes on)."""
from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import REPO
from tests.ui.conftest import LiveServer, free_port

AS_OF = "2026-11-24"
MEDIATOR = "Who was appointed to mediate the Port Calder transit strike?"
KEY = "s3cret"
TOOLS = {"search_news", "ask_news", "news_index"}

Session = Any  # mcp.ClientSession


def run_async(main: Callable[[], Awaitable[Any]]) -> Any:
    """Run `main` in an event loop of its own thread: the calling thread may hold a running
    loop (a Playwright sync session, a uvicorn run a test cut short)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, main).result()


def over_http(url: str, check: Callable[[Session], Awaitable[Any]],
              headers: dict[str, str] | None = None) -> Any:
    """Run `check` in an initialized ClientSession over streamable HTTP."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    async def main() -> Any:
        async with (create_mcp_http_client(headers=headers) as http,
                    streamable_http_client(url + "/mcp", http_client=http) as (read, write),
                    ClientSession(read, write) as session):
            await session.initialize()
            return await check(session)

    return run_async(main)


def over_stdio(data_dir: str, check: Callable[[Session], Awaitable[Any]]) -> Any:
    """Run `check` in a ClientSession with `newsrag mcp` started as a local assistant would."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSRAG_")}
    env.update(HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False", TOKENIZERS_PARALLELISM="false")
    params = StdioServerParameters(command=sys.executable, cwd=str(REPO), env=env, args=[
        "-m", "ui.cli", "mcp", "--data-dir", data_dir])

    async def main() -> Any:
        async with (stdio_client(params) as (read, write),
                    ClientSession(read, write) as session):
            await session.initialize()
            return await check(session)

    return run_async(main)


@pytest.fixture(scope="module")
def server(make_app: Callable[..., FastAPI]) -> Iterator[LiveServer]:
    with LiveServer(make_app(api_key=KEY, rate_limit_per_minute=0), free_port()) as live:
        yield live


async def the_tour(session: Session) -> dict[str, Any]:
    """List the tools, call each, and a few with bad arguments, in one session."""
    out: dict[str, Any] = {"tools": {t.name: t for t in (await session.list_tools()).tools}}
    out["ask"] = await session.call_tool("ask_news", {"question": MEDIATOR, "as_of": AS_OF})
    out["search"] = await session.call_tool("search_news", {
        "query": "Port Calder transit strike mediator", "k": 3, "sources": ["Harbor Ledger"]})
    out["index"] = await session.call_tool("news_index", {})
    out["bad"] = [await session.call_tool(name, args) for name, args in (
        ("ask_news", {"question": MEDIATOR, "as_of": "next tuesday"}),
        ("search_news", {"query": "strike", "k": 0}),
        ("ask_news", {"question": MEDIATOR, "sources": ["Nonesuch"]}),
        ("ask_news", {}),
        ("no_such_tool", {}),
    )]
    out["after"] = await session.call_tool("ask_news", {"question": MEDIATOR, "as_of": AS_OF})
    return out


def check_the_tour(out: dict[str, Any]) -> None:
    assert set(out["tools"]) == TOOLS
    schema = out["tools"]["ask_news"].input_schema
    assert schema["required"] == ["question"] and "as_of" in schema["properties"]
    ask = out["ask"]
    assert not ask.is_error
    answer = ask.structured_content
    assert "Judith Venn" in answer["answer"] and "[1]" in answer["answer"]
    first = answer["citations"][0]
    assert first["number"] == 1 and first["title"] and first["url"] and first["source"]
    assert "Judith Venn" in ask.content[0].text  # the JSON as text too, for plain clients
    search = out["search"].structured_content
    assert len(search["passages"]) == 3
    assert {p["source"] for p in search["passages"]} == {"Harbor Ledger"}
    assert all(p["title"] and p["url"] and p["text"] for p in search["passages"])
    index = out["index"].structured_content
    assert index["articles"] >= 28 and "Harbor Ledger" in index["outlets"]
    assert index["date_range"]["first"] < index["date_range"]["last"]
    bad = out["bad"]
    assert all(r.is_error for r in bad), [r.content[0].text for r in bad]
    texts = [r.content[0].text for r in bad]
    assert "as_of" in texts[0] and "k" in texts[1]
    assert "Nonesuch" in texts[2] and "Harbor Ledger" in texts[2]
    assert "question" in texts[3] and "no_such_tool" in texts[4]
    assert not out["after"].is_error  # the session went on


def test_tools_over_streamable_http(server: LiveServer) -> None:
    check_the_tour(over_http(server.url, the_tour, {"X-API-Key": KEY}))


def test_the_index_resource(server: LiveServer) -> None:
    async def read(session: Session) -> Any:
        listed = [str(r.uri) for r in (await session.list_resources()).resources]
        return listed, await session.read_resource("newsrag://index")

    listed, resource = over_http(server.url, read, {"Authorization": f"Bearer {KEY}"})
    assert listed == ["newsrag://index"]
    assert '"Harbor Ledger"' in resource.contents[0].text


def test_the_key_protects_mcp(server: LiveServer) -> None:
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "probe", "version": "1"}}}
    accept = {"Accept": "application/json, text/event-stream"}
    for headers in ({}, {"X-API-Key": "guess"}, {"Authorization": "Bearer guess"}):
        r = httpx.post(server.url + "/mcp", json=hello, headers={**accept, **headers}, timeout=60)
        assert r.status_code == 401 and "API key" in r.json()["detail"]

    async def listed(session: Session) -> set[str]:
        return {t.name for t in (await session.list_tools()).tools}

    with pytest.raises(Exception) as caught:  # the SDK wraps the 401 its own way
        over_http(server.url, listed, {"X-API-Key": "guess"})
    assert "Server returned an error response" in repr(caught.value)  # the 401, as the SDK says
    assert over_http(server.url, listed, {"X-API-Key": KEY}) == TOOLS


def test_tools_over_stdio(index_settings: Any) -> None:
    check_the_tour(over_stdio(str(index_settings.data_dir), the_tour))


def test_the_sdk_leaves_the_servers_logging_alone() -> None:
    """MCPServer configures the root logger; newsrag serve's logs must not change with it (every
    MCP request would log at INFO)."""
    import logging

    from ui.mcp_server import build_server

    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers.clear()  # as in `newsrag serve` (pytest's own handlers would hide the change)
    try:
        build_server(rag=None)
        assert (root.handlers, root.level) == ([], level)
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
