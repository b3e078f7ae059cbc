"""The reader's surfaces in headless Chromium: each turn keeps its sources, every [n] opens its own
card with the cited span, long and empty questions are refused clearly, a demo question asks
itself, /docs renders with the network blocked, the widget explains a refused origin."""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.ui.test_ui_browser import MEDIATOR, TIMEOUT, chat_ask, shadow_eval, widget_ask
from ui.chat import example_questions

pytestmark = pytest.mark.browser

SHARE = "What share of Port Calder transit union members voted to authorise a strike?"


def open_chat(page: Any, live: Any, query: str = "") -> None:
    page.goto(live.url + "/" + query)
    page.wait_for_selector("#nr-question textarea", timeout=TIMEOUT)


def bubble(page: Any, n: int) -> Any:
    return page.locator("#nr-chat [data-testid=bot]").nth(n - 1)


def test_two_turns_keep_their_sources_and_each_marker_opens_its_card(
        page: Any, live: Any, shots: Path) -> None:
    open_chat(page, live, "?as_of=2026-11-24")
    chat_ask(page, MEDIATOR, 1)
    chat_ask(page, SHARE, 2)
    sources = page.locator("#nr-sources")
    assert sources.locator(".nr-turn").count() == 2  # the first answer's cards are still there
    assert "Answer 1: " + MEDIATOR in sources.inner_text()
    first_card = page.locator("#nr-t1-c1")
    assert "Retired judge Judith Venn named mediator" in first_card.inner_text()

    # the [1] of the first answer is a link to the first turn's card, not the second's
    marker = bubble(page, 1).locator("a[href^='#nr-t1-c1']").first
    assert marker.inner_text() == "[1]"
    marker.click()
    page.wait_for_selector("#nr-t1-c1.nr-flash", timeout=5_000)
    focus = first_card.locator("mark.nr-focus")
    assert focus.count() == 1 and "Judith Venn" in focus.inner_text()
    assert first_card.is_visible() and page.locator("#nr-t2-c1.nr-flash").count() == 0

    # the second answer leads with the 91% sentence, and its card marks exactly that span
    second = bubble(page, 2)
    assert "91%" in second.inner_text().split("[1]")[0]
    second.locator("a[href^='#nr-t2-c1']").first.click()
    page.wait_for_selector("#nr-t2-c1.nr-flash", timeout=5_000)
    focus = page.locator("#nr-t2-c1 mark.nr-focus")
    text = focus.inner_text()
    assert "91% of members" in text and text.count(".") <= 1  # one sentence, not its neighbour
    passage = page.locator("#nr-t2-c1 .nr-passage").inner_text()
    before = passage.split(text)[0]
    assert page.locator("#nr-t2-c1 mark").count() == 1 and text not in before
    assert "As of 24 November 2026" in second.inner_text()
    page.locator("#nr-t2-c1").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "chat-two-turns.png"), full_page=True)
    assert page.errors == []


def test_a_long_question_is_refused_with_its_limit(page: Any, live: Any) -> None:
    open_chat(page, live)
    question = ("Tell me about the Port Calder transit strike and " * 30)[:1200]
    page.fill("#nr-question textarea", question)
    assert len(page.input_value("#nr-question textarea")) == 1200  # not cut by the box
    page.click("#nr-ask")
    page.wait_for_function("document.querySelector('#nr-chat').innerText.includes('Too long')",
                           timeout=TIMEOUT)
    said = bubble(page, 1).inner_text()
    assert "1,200 characters" in said and "1,000" in said
    assert len(page.input_value("#nr-question textarea")) == 1200  # kept, to be shortened
    assert page.locator("#nr-sources .nr-turn").count() == 0
    assert page.errors == []


def test_an_empty_question_says_so(page: Any, live: Any) -> None:
    open_chat(page, live)
    page.click("#nr-ask")
    page.wait_for_function(
        "document.querySelector('#nr-status').innerText.includes('Type a question first')",
        timeout=TIMEOUT)
    assert page.locator("#nr-chat [data-testid=bot]").count() == 0


def test_a_click_on_a_demo_question_asks_it(page: Any, live: Any) -> None:
    open_chat(page, live)
    sample = page.locator("#nr-demo button, #nr-demo tr, #nr-demo .gallery-item").first
    question = example_questions()[0][0]
    assert question.startswith(sample.inner_text().strip().rstrip(".…"))
    sample.click()
    page.wait_for_selector("#nr-sources [data-turn='1']", timeout=TIMEOUT)
    assert question in page.locator("#nr-chat [data-testid=user]").first.inner_text()
    assert "As of 24 November 2026" in bubble(page, 1).inner_text()  # the demo's own day
    assert page.errors == []


def test_docs_render_with_the_network_blocked(page: Any, live: Any) -> None:
    outside: list[str] = []

    def only_local(route: Any) -> None:
        if route.request.url.startswith(live.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.context.route("**/*", only_local)
    page.goto(live.url + "/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=TIMEOUT)
    text = page.locator(".swagger-ui").inner_text()
    assert "/api/ask" in text and "/api/stats" in text
    assert outside == []
    assert page.errors == []


def test_widget_on_a_disallowed_origin_says_so(page: Any, live: Any, host_site: Any,
                                               caplog: Any, shots: Path) -> None:
    # the same page under another name is another origin, one the server does not allow
    other = host_site.url.replace("127.0.0.1", "localhost")
    assert urlsplit(other).netloc != urlsplit(host_site.url).netloc
    host_site.pages["/refused"] = (
        "<!doctype html><html><head><title>Elsewhere</title></head><body><h1>Elsewhere</h1>"
        f'<script src="{live.url}/widget.js" async></script></body></html>')
    caplog.set_level("WARNING", logger="newsrag.server")
    page.goto(other + "/refused")
    page.click("newsrag-widget .launcher")
    widget_ask(page, MEDIATOR)
    said = shadow_eval(page, "root.querySelector('.msg.bot .error').textContent")
    assert "is not allowed" in said and other in said and "NEWSRAG_CORS_ORIGINS" in said
    assert "Failed to fetch" not in said
    assert any(other in r.getMessage() and "NEWSRAG_CORS_ORIGINS" in r.getMessage()
               for r in caplog.records)
    page.screenshot(path=str(shots / "widget-refused-origin.png"))
