"""The push door with httpx against a real uvicorn over an index of its own (the demo corpus):
pushed, then asked about through every door (/api/ask, the openai client, the mcp client);
updated, deduplicated, deleted and then not cited; bad pushes refused; a push waits for another
writer, then says who holds the lock."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import DEMO, NEW_STORY
from tests.ui.conftest import LiveServer, free_port

AS_OF = "2026-11-30"
QUESTION = "Who won the design contest for the library at Tessany Quay?"
ARCHITECT = "Ilse Marbeck"
KEY = "s3cret"
WITH_KEY = {"X-API-Key": KEY}
PAGE = """<!doctype html><html><head><title>Night ferry to Orlen Point returns</title>
<meta property="og:site_name" content="Tessany Courier">
<meta property="article:published_time" content="2026-11-27T08:00:00Z"></head>
<body><article><h1>Night ferry to Orlen Point returns</h1>
<p>The night ferry between Tessany Quay and Orlen Point will run again from 5 December, the
harbour board announced on Wednesday, after a two-year pause caused by crew shortages.</p>
<p>Captain Mireille Dorsan will command the refitted vessel Kestrel Grey, which carries 140
passengers and twelve cars. The last crossing leaves Orlen Point at 23:40 every night.</p>
<p>Tickets cost 9 euros for adults and 4 euros for children; season passes go on sale at the
harbour office on Monday. The board expects about 300 passengers a night in the first month.</p>
</article></body></html>"""


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Any:
    """An index of the demo corpus of this module's own: the pushes write to it."""
    from ingest.run import ingest
    from rag.index import Index
    from rag.settings import Settings

    settings = Settings(data_dir=tmp_path_factory.mktemp("push-index"), rate_limit_per_minute=0)
    index = Index.open(settings, embedder)
    assert ingest(index, [DEMO]).ingested >= 28
    index.close()
    return settings


@pytest.fixture(scope="module")
def make_server(settings: Any, embedder: Any) -> Iterator[Callable[..., LiveServer]]:
    from rag.index import Index
    from rag.pipeline import NewsRAG
    from ui.server import create_app

    rag = NewsRAG(Index.open(settings, embedder))

    def make(**overrides: Any) -> LiveServer:
        """The server, with the API key (a push needs one) unless told otherwise."""
        return LiveServer(create_app(settings.replace(**{"api_key": KEY, **overrides}), rag=rag,
                                     chat=False), free_port())

    yield make
    rag.close()


@pytest.fixture(scope="module")
def server(make_server: Callable[..., LiveServer]) -> Iterator[LiveServer]:
    with make_server() as live:
        yield live


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120, headers=WITH_KEY) as c:
        yield c


def answer(http: httpx.Client, question: str = QUESTION) -> dict[str, Any]:
    r = http.post("/api/ask", json={"question": question, "as_of": AS_OF})
    assert r.status_code == 200, r.text
    return r.json()


def cited_ids(data: dict[str, Any]) -> set[str]:
    return {c["article_id"] for c in data["citations"]}


def ask_openai(server: LiveServer, question: str = QUESTION) -> dict[str, Any]:
    ai = openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0)
    done = ai.chat.completions.create(model="newsrag", messages=[
        {"role": "user", "content": question}], extra_body={"newsrag": {"as_of": AS_OF}})
    return done.model_extra["newsrag"]


def ask_mcp(server: LiveServer, question: str = QUESTION) -> dict[str, Any]:
    from tests.ui.test_mcp_door import over_http

    async def ask(session: Any) -> Any:
        return await session.call_tool("ask_news", {"question": question, "as_of": AS_OF})

    result = over_http(server.url, ask, WITH_KEY)
    assert not result.is_error, result.content
    return result.structured_content


def test_pushed_then_answered_then_deleted_and_not_cited(http: httpx.Client,
                                                         server: LiveServer) -> None:
    before = answer(http)
    assert ARCHITECT not in before["answer"]
    r = http.post("/api/articles", json=NEW_STORY)
    assert r.status_code == 201, r.text
    [pushed] = r.json()["articles"]
    assert pushed["status"] == "stored" and pushed["title"] == NEW_STORY["title"]
    now = answer(http)  # as soon as the call returned
    assert ARCHITECT in now["answer"] and pushed["id"] in cited_ids(now)
    via_openai = ask_openai(server)
    assert ARCHITECT in via_openai["answer"] and pushed["id"] in cited_ids(via_openai)
    via_mcp = ask_mcp(server)
    assert ARCHITECT in via_mcp["answer"] and pushed["id"] in cited_ids(via_mcp)

    r = http.delete(f"/api/articles/{pushed['id']}")
    assert r.status_code == 200 and r.json()["status"] == "deleted", r.text
    gone = answer(http)
    assert pushed["id"] not in cited_ids(gone) and ARCHITECT not in gone["answer"]
    assert pushed["id"] not in cited_ids(ask_openai(server))
    assert pushed["id"] not in cited_ids(ask_mcp(server))
    r = http.delete(f"/api/articles/{pushed['id']}")
    assert r.status_code == 404 and "No article has the id" in r.json()["detail"]


def test_a_push_again_is_unchanged_an_edit_updates_a_copy_is_a_duplicate(
        http: httpx.Client) -> None:
    first = http.post("/api/articles", json={"articles": [NEW_STORY]}).json()["articles"][0]
    try:
        again = http.post("/api/articles", json=NEW_STORY)
        assert again.status_code == 200 and again.json()["articles"][0]["status"] == "unchanged"
        edited = dict(NEW_STORY, text=NEW_STORY["text"].replace(ARCHITECT, "Rosa Quint"))
        r = http.post("/api/articles", json=edited)
        assert r.status_code == 201 and r.json()["articles"][0] == {
            **first, "status": "updated"}
        now = answer(http)
        assert "Rosa Quint" in now["answer"] and ARCHITECT not in now["answer"]
        copy = dict(edited, url="https://mirror.example/glassworks")
        r = http.post("/api/articles", json=[copy])
        assert r.status_code == 200
        assert r.json()["articles"][0] | {"id": None} == {
            "id": None, "title": copy["title"], "url": copy["url"], "status": "duplicate",
            "duplicate_of": first["id"]}
        near = dict(edited, url="https://mirror.example/near",
                    text=edited["text"].replace("Thursday", "Thursday evening"))
        r = http.post("/api/articles", json=near).json()["articles"][0]
        assert (r["status"], r["duplicate_of"]) == ("duplicate", first["id"])  # near, not exact
        other = {"title": "Harbour board names a new pilot", "url": "https://x.example/pilot",
                 "text": "The harbour board named Oda Finch as its new pilot on Friday."}
        twice = http.post("/api/articles", json=[other, other]).json()["articles"]
        assert [(a["status"], a.get("duplicate_of")) for a in twice] == [
            ("stored", None), ("duplicate", twice[0]["id"])]
        assert http.delete(f"/api/articles/{twice[0]['id']}").status_code == 200
    finally:
        assert http.delete(f"/api/articles/{first['id']}").status_code == 200


def test_an_html_page_with_its_url(http: httpx.Client) -> None:
    """A page as published: its markup and scripts (here 60 KB, over a question's 32 KB limit)
    around the article."""
    page = PAGE.replace("</head>", f"<script>var x = '{'x' * 60_000}';</script></head>")
    r = http.post("/api/articles", params={"url": "https://courier.example/night-ferry"},
                  content=page.encode(), headers={"Content-Type": "text/html; charset=utf-8"})
    assert r.status_code == 201, r.text
    [pushed] = r.json()["articles"]
    assert pushed["url"] == "https://courier.example/night-ferry"
    try:
        now = answer(http, "Who commands the night ferry to Orlen Point?")
        assert "Mireille Dorsan" in now["answer"] and pushed["id"] in cited_ids(now)
    finally:
        assert http.delete(f"/api/articles/{pushed['id']}").status_code == 200


def without(field: str) -> dict[str, Any]:
    return {k: v for k, v in NEW_STORY.items() if k != field}


@pytest.mark.parametrize("body, content_type, status, words", [
    ({"text": NEW_STORY["text"], "url": "https://x.example/a"}, None, 422, "no title"),
    ({"title": "A headline", "url": "https://x.example/a"}, None, 422, "no text"),
    ({"title": "A headline", "text": "<p></p>"}, None, 422, "no text"),
    ({**NEW_STORY, "section": "town"}, None, 422, "unknown field 'section'. Valid fields are:"),
    ([NEW_STORY, {"title": "x"}], None, 422, "article 2: no text"),
    ({**NEW_STORY, "published": "last Thursday"}, None, 422,
     'published: "last Thursday" is not a date such as 2026-11-28T09:00:00Z'),
    ({**without("published"), "date": 20261128}, None, 422, "published: 20261128 is not a date"),
    ({**without("url"), "link": "javascript:alert(1)"}, None, 422,
     'url: "javascript:alert(1)" is not an http(s) URL'),
    ([], None, 422, "No articles"),
    ([1], None, 422, "expected a JSON object"),
    (b"{not json", "application/json", 422, "not valid JSON"),
    (PAGE.encode(), "text/html", 422, "needs its URL"),
    (b"<html><body><p>Hi</p></body></html>", "text/html", 422, "No article in the page"),
    ({**NEW_STORY, "text": "word " * 210_000}, None, 413, "larger than 1000000 bytes"),
])
def test_bad_pushes_are_refused_and_nothing_is_stored(
        http: httpx.Client, body: Any, content_type: str | None, status: int,
        words: str) -> None:
    articles = http.get("/api/health").json()["articles"]
    if isinstance(body, bytes):
        params = {"url": "https://x.example/p"} if b"<p>Hi" in body else None
        r = http.post("/api/articles", content=body, params=params,
                      headers={"Content-Type": content_type})
    else:
        r = http.post("/api/articles", json=body)
    assert r.status_code == status and words in r.json()["detail"], r.text
    assert http.get("/api/health").json()["articles"] == articles


def test_a_push_waits_for_another_writer_then_says_who_holds_the_lock(
        http: httpx.Client, settings: Any, monkeypatch: pytest.MonkeyPatch,
        make_server: Callable[..., LiveServer]) -> None:
    from rag.catalog import open_catalog

    monkeypatch.setattr("ui.push.WAIT_FOR_WRITER", 1.5)
    held, release = threading.Event(), threading.Event()

    def another_writer(seconds: float) -> None:
        catalog = open_catalog(settings)
        try:
            with catalog.exclusive_writer():
                held.set()
                release.wait(seconds)
        finally:
            catalog.close()

    with make_server() as live, httpx.Client(base_url=live.url, timeout=60,
                                             headers=WITH_KEY) as c:
        writer = threading.Thread(target=another_writer, args=(0.6,))
        writer.start()
        held.wait(10)
        t0 = time.monotonic()
        r = c.post("/api/articles", json=NEW_STORY)  # queued behind it, then stored
        assert r.status_code == 201 and time.monotonic() - t0 >= 0.4, r.text
        writer.join()
        assert c.delete(f"/api/articles/{r.json()['articles'][0]['id']}").status_code == 200

        held.clear()
        writer = threading.Thread(target=another_writer, args=(30,))
        writer.start()
        held.wait(10)
        try:
            r = c.post("/api/articles", json=NEW_STORY)
            assert r.status_code == 409 and r.headers["retry-after"]
            detail = r.json()["detail"]
            assert "another writer holds the index's lock" in detail
            assert "Another ingest is writing" in detail and "Nothing was written" in detail
            assert c.delete("/api/articles/a0000").status_code == 409
        finally:
            release.set()
            writer.join()
    assert ARCHITECT not in answer(http)["answer"]


def test_the_push_door_needs_the_key(make_server: Callable[..., LiveServer]) -> None:
    with make_server(api_key=KEY) as live, httpx.Client(base_url=live.url, timeout=60) as c:
        for headers in ({}, {"X-API-Key": "guess"}, {"Authorization": "Bearer guess"}):
            assert c.post("/api/articles", json=NEW_STORY, headers=headers).status_code == 401
            assert c.delete("/api/articles/a123", headers=headers).status_code == 401
        r = c.post("/api/articles", json=NEW_STORY, headers={"X-API-Key": KEY})
        assert r.status_code == 201
        pushed = r.json()["articles"][0]["id"]
        r = c.delete(f"/api/articles/{pushed}", headers={"Authorization": f"Bearer {KEY}"})
        assert r.status_code == 200


def test_without_a_key_set_nobody_pushes(make_server: Callable[..., LiveServer]) -> None:
    """A server without an API key answers anyone; it stores and deletes for no one."""
    with make_server(api_key=None) as live, httpx.Client(base_url=live.url, timeout=60) as c:
        articles = c.get("/api/health").json()["articles"]
        for r in (c.post("/api/articles", json=NEW_STORY),
                  c.post("/api/articles", json=NEW_STORY, headers=WITH_KEY),
                  c.delete("/api/articles/a123")):
            assert r.status_code == 403, r.text
            assert "needs an API key: set NEWSRAG_API_KEY" in r.json()["detail"]
        assert c.get("/api/health").json()["articles"] == articles
        assert c.post("/api/ask", json={"question": QUESTION}).status_code == 200


def test_push_reads_what_ingest_reads() -> None:
    """The aliases an ingest reads are the push's fields: a record a file would hold pushes."""
    from ingest.loaders.records import ALIASES
    from ui.push import FIELDS, articles_from

    assert FIELDS == {n.lower() for names in ALIASES.values() for n in names}
    record = {"headline": "Ferry fares rise", "body": ["Fares rise by 5%.", "From March."],
              "link": "https://x.example/f", "outlet": "Harbor Ledger", "date": "2026-11-02"}
    [article] = articles_from(json.dumps(record).encode(), "application/json", None)
    assert (article.title, article.source, article.url, article.published[:10]) == (
        "Ferry fares rise", "Harbor Ledger", "https://x.example/f", "2026-11-02")
