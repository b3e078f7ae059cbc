"""Headless Chromium: the chat behind its key prompt, the routes the chat page uses, and bare
URLs in article text that must stay text in chat answers."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.ui.conftest import LiveServer, free_port
from tests.ui.test_ui_browser import MEDIATOR, TIMEOUT, chat_ask

pytestmark = pytest.mark.browser
KEY = "s3cret"
ARTICLE_URL = "https://fenlandgazette.example/2026/11/14/wexmoor-goat-show"
GOATS = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Bramble wins the Wexmoor goat show | Fenland Gazette</title>
<meta property="og:type" content="article">
<meta property="og:title" content="Bramble wins the Wexmoor goat show">
<meta property="og:site_name" content="Fenland Gazette">
<meta property="og:url" content="{ARTICLE_URL}">
<meta property="article:published_time" content="2026-11-14T10:00:00Z"></head>
<body><main><article><h1>Bramble wins the Wexmoor goat show</h1>
<p>A three-year-old goat named Bramble won the Wexmoor goat show on Saturday, ahead of 41 other
entrants, the show's organisers said.</p>
<p>Photos of the Wexmoor goat show winner were posted at http://127.0.0.1:9/track.png and at
www.wexmoor-goats.example, and questions go to judge@wexmoor-goats.example, the organisers
said.</p>
<p>The Wexmoor show poster read "Best in show" and ![goat](http://127.0.0.1:9/goat.png) under a
drawing of Bramble.</p>
<p>The Wexmoor goat show will return next November, when the organisers expect more than 50
goats to compete.</p></article></main></body></html>"""
PHOTOS_Q = "Where were photos of the Wexmoor goat show winner posted?"
POSTER_Q = "What did the Wexmoor show poster read?"


@pytest.fixture(scope="module")
def goats_app(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[FastAPI]:
    """The full app over an index of one article whose text holds bare URLs and an address."""
    from ingest.run import ingest
    from rag.index import Index
    from rag.pipeline import NewsRAG
    from rag.settings import Settings
    from ui.server import create_app

    folder = tmp_path_factory.mktemp("goats")
    (folder / "news").mkdir()
    (folder / "news" / "goats.html").write_text(GOATS, "utf-8")
    settings = Settings(data_dir=folder / "index", rate_limit_per_minute=0)
    index = Index.open(settings, embedder)
    assert ingest(index, [folder / "news"]).ingested == 1
    index.close()
    rag = NewsRAG(Index.open(settings, embedder))
    yield create_app(settings, rag=rag)
    rag.close()


def watch(page: Any) -> list[tuple[int, str]]:
    """Every response the page gets: (status, url)."""
    seen: list[tuple[int, str]] = []
    page.on("response", lambda r: seen.append((r.status, r.url)))
    return seen


def test_chat_behind_its_key_prompt(page: Any, make_app: Callable[..., FastAPI],
                                    shots: Path) -> None:
    app = make_app(chat=True, api_key=KEY, rate_limit_per_minute=0)
    with LiveServer(app, free_port()) as live:
        page.goto(live.url + "/")
        page.wait_for_selector("input[name=key]", timeout=TIMEOUT)
        assert page.locator("#nr-question").count() == 0
        page.fill("input[name=key]", "a guess")
        page.click("button[type=submit]")
        page.wait_for_selector("text=That is not the key.", timeout=TIMEOUT)
        page.screenshot(path=str(shots / "chat-key-prompt.png"))

        seen = watch(page)
        page.fill("input[name=key]", KEY)
        page.click("button[type=submit]")
        page.wait_for_selector("#nr-question textarea", timeout=TIMEOUT)
        chat_ask(page, MEDIATOR, 1)
        assert "Judith Venn" in page.locator("#nr-chat [data-testid=bot]").last.inner_text()
        cookie = next(c for c in page.context.cookies() if c["name"] == "newsrag_chat")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        failed = [(s, u) for s, u in seen if s >= 400]
        assert failed == [], failed  # every route the chat page uses is open to its session
        assert page.errors == []

        page.goto(live.url + "/chat/logout")
        page.wait_for_selector("input[name=key]", timeout=TIMEOUT)


def test_bare_urls_in_articles_are_not_links_in_chat(page: Any, goats_app: FastAPI) -> None:
    with LiveServer(goats_app, free_port()) as live:
        seen = watch(page)
        page.goto(live.url + "/")
        page.wait_for_selector("#nr-question textarea", timeout=TIMEOUT)
        chat_ask(page, PHOTOS_Q, 1)
        bubble = page.locator("#nr-chat [data-testid=bot]").last
        text = bubble.inner_text()
        for shown in ("http://127.0.0.1:9/track.png", "www.wexmoor-goats.example",
                      "judge@wexmoor-goats.example"):
            assert shown in text
        # the only links in an answer are its own [n] markers, to its source cards
        assert bubble.locator("img, a:not([href^='#nr-t1-c'])").count() == 0
        assert bubble.locator("a[href^='#nr-t1-c']").count() >= 1
        links = page.locator("#nr-chat a[href]:not([href^='#nr-t']), #nr-sources a[href]")
        assert [links.nth(i).get_attribute("href") for i in range(links.count())] == [ARTICLE_URL]
        chat_ask(page, POSTER_Q, 2)  # markdown image syntax in the article stays text
        bubble = page.locator("#nr-chat [data-testid=bot]").last
        assert "![goat](http://127.0.0.1:9/goat.png)" in bubble.inner_text()
        assert page.locator("#nr-chat img, #nr-chat a:not([href^='#nr-t'])").count() == 0
        assert [(s, u) for s, u in seen if s >= 400] == []
        assert page.errors == []


def test_extractive_answers_keep_the_space_before_a_bang(goats_app: FastAPI) -> None:
    with TestClient(goats_app) as c:
        answer = c.post("/api/ask", json={"question": POSTER_Q, "as_of": "2026-11-24"}).json()
    assert 'and ![goat](http://127.0.0.1:9/goat.png) under' in answer["answer"]
