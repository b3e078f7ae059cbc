"""Issue 39 in headless Chromium: the as-of day the reader sees is the one the chat uses, and a
demo index says its news predates it; one source card per article."""
from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from tests.ui.test_ui_browser import TIMEOUT, chat_ask
from ui.chat import as_of_label

pytestmark = pytest.mark.browser

ALDERFORD = "What did the Alderford city council decide last week?"


def open_chat(page: Any, live: Any, query: str = "") -> None:
    page.goto(live.url + "/" + query)
    page.wait_for_selector("#nr-question textarea", timeout=TIMEOUT)


def note(page: Any) -> str:
    return page.locator("#nr-asof-note").inner_text()


def as_of_box(page: Any) -> str:
    """The As-of box's value (the Filters accordion opened to show it)."""
    if page.locator("#nr-asof textarea, #nr-asof input").count() == 0:
        page.get_by_text("Filters", exact=True).click()
    field = page.locator("#nr-asof textarea, #nr-asof input").first
    field.wait_for(timeout=TIMEOUT)
    return field.input_value()


def answer_day(page: Any, n: int) -> str:
    """The 'As of ...' line under the n-th answer."""
    text = page.locator("#nr-chat [data-testid=bot]").nth(n - 1).inner_text()
    return next(line for line in text.splitlines() if line.startswith("As of "))


def test_the_page_as_of_is_shown_in_the_box_and_used(page: Any, live: Any) -> None:
    open_chat(page, live, "?as_of=2026-11-24")
    page.wait_for_function("document.querySelector('#nr-asof-note').innerText"
                           ".includes('24 November 2026')", timeout=TIMEOUT)
    assert as_of_box(page) == "2026-11-24"
    chat_ask(page, ALDERFORD, 1)
    assert answer_day(page, 1) == "As of 24 November 2026."
    assert "Questions are read as of 24 November 2026." in note(page)
    assert page.errors == []


def test_typed_questions_say_today_and_that_the_demo_news_predates_it(
        page: Any, live: Any, news_rag: Any) -> None:
    today = datetime.now(UTC).date()
    newest = date.fromisoformat(news_rag.stats()["date_range"][1][:10])
    assert (today - newest).days > 7  # the demo index: all its news predates today
    open_chat(page, live)
    said = note(page)
    assert f"Questions are read {as_of_label(today.isoformat())} (today)." in said
    assert "All the indexed news predates that day" in said
    assert as_of_label(newest.isoformat()).removeprefix("as of ") in said
    chat_ask(page, ALDERFORD, 1)
    assert answer_day(page, 1) == f"A{as_of_label(today.isoformat())[1:]}."

    # a demo question pins its day in the box: the questions typed after it use it too
    page.locator("#nr-demo button, #nr-demo tr, #nr-demo .gallery-item").first.click()
    page.wait_for_selector("#nr-sources [data-turn='2']", timeout=TIMEOUT)
    assert answer_day(page, 2) == "As of 24 November 2026."
    assert as_of_box(page) == "2026-11-24"
    page.wait_for_function("document.querySelector('#nr-asof-note').innerText"
                           ".includes('as of 24 November 2026')", timeout=TIMEOUT)
    assert "predates" not in note(page)
    chat_ask(page, ALDERFORD, 3)
    assert answer_day(page, 3) == "As of 24 November 2026."
    assert "Stage 3" in page.locator("#nr-chat [data-testid=bot]").nth(2).inner_text()
    assert page.errors == []


LUMEN = "On what date did Lumen-1 finally launch after its first attempt was scrubbed?"


def test_one_card_per_article_with_every_cited_sentence_marked(
        page: Any, live: Any, news_rag: Any, shots: Any) -> None:
    import re

    from rag.types import answer_to_dict

    raw = answer_to_dict(news_rag.ask(LUMEN, as_of="2026-11-24"))
    articles = list(dict.fromkeys(c["article_id"] for c in raw["citations"]))
    assert len(articles) < len(raw["citations"])  # two passages of one article are cited
    open_chat(page, live, "?as_of=2026-11-24")
    chat_ask(page, LUMEN, 1)
    cards = page.locator("#nr-sources [data-turn='1'] .nr-card")
    assert cards.count() == len(articles)
    heads = [cards.nth(i).locator(".nr-head").inner_text() for i in range(cards.count())]
    assert len({h.split("]", 1)[1] for h in heads}) == len(heads)  # no headline twice
    assert [h.split("]")[0] for h in heads] == [f"[{n}" for n in range(1, len(heads) + 1)]
    bubble = page.locator("#nr-chat [data-testid=bot]").first
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", bubble.inner_text())}
    assert numbers == set(range(1, len(articles) + 1))  # citations number the cards
    # every sentence's marker opens the card that marks that very sentence
    for i, s in enumerate(raw["sentences"]):
        if not s["spans"]:
            continue
        link = bubble.locator(f"a[href$='-s{i}']").first
        card = link.get_attribute("href").split("#")[1].rsplit("-s", 1)[0]
        link.click()
        page.wait_for_selector(f"#{card}.nr-flash mark.nr-focus[data-s='{i}']", timeout=5_000)
        quoted = raw["citations"][s["spans"][0]["citation"] - 1]["passage"][
            s["spans"][0]["start"]:s["spans"][0]["end"]]
        assert " ".join(quoted.split()[:4]) in page.locator(f"#{card}").inner_text()
    page.screenshot(path=str(shots / "chat-one-card-per-article.png"), full_page=True)
    assert page.errors == []


def test_the_widget_lists_one_source_per_article(page: Any, live: Any, host_site: Any,
                                                 news_rag: Any) -> None:
    import re

    from rag.types import answer_to_dict
    from tests.ui.test_ui_browser import host_page, shadow_eval, widget_ask

    raw = answer_to_dict(news_rag.ask(LUMEN, as_of="2026-11-24"))
    articles = list(dict.fromkeys(c["article_id"] for c in raw["citations"]))
    assert len(articles) < len(raw["citations"])
    host_site.pages["/lumen"] = host_page(live.url)
    page.goto(host_site.url + "/lumen")
    page.click("newsrag-widget .launcher")
    widget_ask(page, LUMEN)
    titles = shadow_eval(page, "[...root.querySelectorAll('.sources li .source')]"
                               ".map(e => e.textContent)")
    assert len(titles) == len(articles) == len(set(titles))
    text = shadow_eval(page, "root.querySelector('.msg.bot .text').textContent")
    assert {int(n) for n in re.findall(r"\[(\d+)\]", text)} == set(range(1, len(articles) + 1))
    assert not re.search(r"(\[\d+\])\1", text)  # one article's two passages: one marker
    assert page.errors == []


def test_a_quotation_the_answer_opens_is_closed_in_the_chat_and_widget(
        page: Any, make_settings: Any, embedder: Any, tmp_path: Any, host_site: Any) -> None:
    """The answer's sentence is the first of a two-sentence quote: the reader sees '…”'."""
    import json

    from ingest.run import ingest
    from rag.index import Index
    from rag.pipeline import NewsRAG
    from tests.ui.conftest import LiveServer, free_port
    from tests.ui.test_first_hour import FERRY
    from tests.ui.test_ui_browser import host_page, shadow_eval, widget_ask
    from ui.server import create_app

    question = "When will the night ferry to Kessock stop running?"
    settings = make_settings(rate_limit_per_minute=0, cors_origins=(host_site.url,))
    feed = tmp_path / "ferry.jsonl"
    feed.write_text(json.dumps(FERRY) + "\n", encoding="utf-8")
    index = Index.open(settings, embedder)
    ingest(index, [feed])
    index.close()
    rag = NewsRAG(Index.open(settings, embedder))
    try:
        with LiveServer(create_app(settings, rag=rag, chat=True), free_port()) as server:
            host_site.pages["/ferry"] = host_page(server.url)
            page.goto(host_site.url + "/ferry")
            page.click("newsrag-widget .launcher")
            widget_ask(page, question)
            in_widget = shadow_eval(page, "root.querySelector('.msg.bot .text').textContent")
            open_chat(page, server, "?as_of=2026-11-24")
            chat_ask(page, question, 1)
            in_chat = page.locator("#nr-chat [data-testid=bot]").first.inner_text()
    finally:
        rag.close()
    for text in (in_widget, in_chat):
        assert "1 December. \u2026\u201d" in text, text
        assert text.count("\u201c") == text.count("\u201d")
    assert page.errors == []
