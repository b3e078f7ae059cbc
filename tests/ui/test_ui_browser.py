"""Headless Chromium against the real app on uvicorn: widget, chat, embed, hostile article."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

MEDIATOR = "Who was appointed to mediate the Port Calder transit strike?"
SCRIPT_Q = ("What text was submitted into the comment form of the Quillfeather glacier survey "
            "station portal?")
IMG_Q = "What markup did the second submission to the Quillfeather glacier survey portal contain?"
SCRIPT_TEXT = "<script>window.__pwned=1</script>"
IMG_TEXT = '<img src=x onerror="window.__pwned=1">'
TIMEOUT = 60_000

HOSTILE_CSS = """
* { color: red !important; display: block !important; position: static !important;
    font: 28px/1 serif !important; background: yellow !important; visibility: visible; }
head, style, script, title { display: none !important; }
button, input, form, ol, li { display: none !important; }
a { color: lime !important; pointer-events: none !important; }
div { width: 10px !important; height: 10px !important; overflow: hidden !important; }
"""


def host_page(server_url: str, as_of: str = "2026-11-24") -> str:
    return (f"<!doctype html><html><head><title>Host</title><style>{HOSTILE_CSS}</style></head>"
            f"<body><h1>A news-loving blog</h1><div>with hostile CSS</div>"
            f'<script src="{server_url}/widget.js" async data-as-of="{as_of}"></script>'
            "</body></html>")


def shadow_eval(page: Any, expr: str) -> Any:
    """Evaluate `expr` with `root` bound to the widget's shadow root."""
    return page.evaluate(f"(() => {{ const root = document.querySelector('newsrag-widget')"
                         f".shadowRoot; return {expr}; }})()")


def widget_ask(page: Any, question: str, answers_before: int = 0) -> None:
    page.fill("newsrag-widget input", question)
    page.press("newsrag-widget input", "Enter")
    page.wait_for_function(
        "n => document.querySelector('newsrag-widget').shadowRoot"
        ".querySelectorAll('.msg.bot .sources, .msg.bot .notice, .msg.bot .error').length > n",
        arg=answers_before, timeout=TIMEOUT)


def chat_ask(page: Any, question: str, n: int) -> None:
    """Ask the Gradio chat its n-th question and wait for the answer's source cards."""
    page.fill("#nr-question textarea", question)
    page.click("#nr-ask")
    page.wait_for_selector(f"#nr-sources [data-turn='{n}']", timeout=TIMEOUT)


def test_widget_on_hostile_host_page(page: Any, live: Any, host_site: Any, shots: Path) -> None:
    host_site.pages["/blog"] = host_page(live.url)
    page.goto(host_site.url + "/blog")
    page.click("newsrag-widget .launcher")
    widget_ask(page, MEDIATOR)
    answer = shadow_eval(page, "root.querySelector('.msg.bot .text').textContent")
    assert "Judith Venn" in answer and "[1]" in answer
    link = page.locator("newsrag-widget .sources a").first
    href = link.get_attribute("href")
    assert href.startswith("https://harborledger.example/") and link.get_attribute("target") == "_blank"
    assert page.locator("newsrag-widget .marker").first.get_attribute("href") == href
    # the host's CSS did not get in, and the widget stayed on screen
    assert shadow_eval(page, "getComputedStyle(root.querySelector('.text')).color") == "rgb(31, 35, 40)"
    assert page.evaluate("getComputedStyle(document.querySelector('newsrag-widget')).position") == "fixed"
    assert page.locator("newsrag-widget .launcher").is_visible()
    # nor did the widget's CSS get out
    assert page.evaluate("getComputedStyle(document.querySelector('h1')).color") == "rgb(255, 0, 0)"
    assert page.evaluate("document.styleSheets.length") == 1
    # a follow-up keeps the conversation
    widget_ask(page, "And what is his or her background?", answers_before=1)
    assert shadow_eval(page, "root.querySelectorAll('.msg.user').length") == 2
    page.screenshot(path=str(shots / "widget-hostile-host.png"))
    assert page.errors == []


def test_widget_on_plain_page(page: Any, live: Any, host_site: Any, shots: Path) -> None:
    host_site.pages["/plain"] = (
        "<!doctype html><html><head><title>Port Calder Weekly</title><style>body{font:17px/1.6 "
        "Georgia,serif;max-width:680px;margin:40px 60px;color:#222}</style></head><body>"
        "<h1>Port Calder Weekly</h1><p>Our readers can now ask the news desk's archive directly: "
        "open the <b>Ask the news</b> button at the bottom right.</p>"
        f'<script src="{live.url}/widget.js" async data-as-of="2026-11-24"></script>'
        "</body></html>")
    page.goto(host_site.url + "/plain")
    page.click("newsrag-widget .launcher")
    widget_ask(page, MEDIATOR)
    assert "Judith Venn" in shadow_eval(page, "root.querySelector('.msg.bot .text').textContent")
    page.screenshot(path=str(shots / "widget.png"))
    assert page.errors == []


def test_gradio_chat_answers_with_source_cards(page: Any, live: Any, shots: Path) -> None:
    page.goto(live.url + "/")
    page.wait_for_selector("#nr-question textarea", timeout=TIMEOUT)
    chat_ask(page, MEDIATOR, 1)
    bubble = page.locator("#nr-chat [data-testid=bot]").last
    assert "Judith Venn" in bubble.inner_text() and "[1]" in bubble.inner_text()
    card = page.locator("#nr-sources .nr-card").first
    assert "Retired judge Judith Venn named mediator" in card.inner_text()
    assert "Harbor Ledger" in card.inner_text() and "2026-10-20" in card.inner_text()
    assert "Judith Venn" in card.locator("mark").inner_text()
    link = card.locator("a").first.get_attribute("href")
    assert link.startswith("https://harborledger.example/")
    page.screenshot(path=str(shots / "chat.png"), full_page=True)

    chat_ask(page, "Who won the 2030 football world cup final?", 2)
    assert "Not covered by the indexed news" in page.locator("#nr-sources").inner_text()
    assert "Not covered by the indexed news" in page.locator("#nr-chat").inner_text()
    page.screenshot(path=str(shots / "chat-not-covered.png"), full_page=True)
    assert page.errors == []


def test_hostile_article_runs_nothing_in_chat(page: Any, live: Any) -> None:
    page.goto(live.url + "/")
    page.wait_for_selector("#nr-question textarea", timeout=TIMEOUT)
    for n, question in enumerate((SCRIPT_Q, IMG_Q), start=1):
        chat_ask(page, question, n)
    chat, sources = page.locator("#nr-chat").inner_text(), page.locator("#nr-sources").inner_text()
    assert SCRIPT_TEXT in chat and IMG_TEXT in chat
    assert IMG_TEXT in sources
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#nr-chat img[src='x'], #nr-sources img, #nr-chat script").count() == 0
    assert page.errors == []


def test_hostile_article_runs_nothing_in_widget_and_embed(
        page: Any, live: Any, host_site: Any) -> None:
    host_site.pages["/hostile"] = host_page(live.url)
    page.goto(host_site.url + "/hostile")
    page.click("newsrag-widget .launcher")
    widget_ask(page, SCRIPT_Q)
    widget_ask(page, IMG_Q, answers_before=1)
    texts = shadow_eval(page, "[...root.querySelectorAll('.msg.bot .text')].map(e => e.textContent)")
    assert SCRIPT_TEXT in texts[0] and IMG_TEXT in texts[1]
    assert shadow_eval(page, "root.querySelectorAll('img, script').length") == 0
    assert page.evaluate("window.__pwned") is None

    page.goto(live.url + "/embed")  # the iframe page: the same panel, full size, no launcher
    page.fill("newsrag-widget input", IMG_Q)
    page.press("newsrag-widget input", "Enter")
    page.wait_for_selector("newsrag-widget .sources a", timeout=TIMEOUT)
    assert IMG_TEXT in shadow_eval(page, "root.querySelector('.msg.bot .text').textContent")
    assert page.evaluate("window.__pwned") is None
    assert page.errors == []


def test_embed_in_iframe_of_other_origin(page: Any, live: Any, host_site: Any, shots: Path) -> None:
    host_site.pages["/framed"] = (
        "<!doctype html><html><body style='margin:0;background:#eee'><h1>Framed</h1>"
        f"<iframe src='{live.url}/embed' style='width:420px;height:600px;border:1px solid #ccc'>"
        "</iframe></body></html>")
    page.goto(host_site.url + "/framed")
    frame = page.frame_locator("iframe")
    frame.locator("newsrag-widget input").fill(MEDIATOR)
    frame.locator("newsrag-widget input").press("Enter")
    frame.locator("newsrag-widget .sources a").first.wait_for(timeout=TIMEOUT)
    assert "Judith Venn" in frame.locator("newsrag-widget .text").first.inner_text()
    page.screenshot(path=str(shots / "embed.png"))
