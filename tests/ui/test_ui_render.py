"""Rendering for people: text stays text, links stay http(s), the supporting span is marked."""
from __future__ import annotations

from typing import Any

from rag.types import answer_to_dict
from ui.chat import cards_html, example_questions, h, md_escape, passage_span, safe_url

HOSTILE = {
    "number": 1, "chunk_id": "a-0000", "article_id": "a", "source": "Evil <b>Times</b>",
    "title": 'Headline <img src=x onerror="window.__pwned=1">', "published": "2026-11-06T09:30:00Z",
    "url": "javascript:window.__pwned=1", "passage": "Intro. <script>window.__pwned=1</script> "
    "said ${window.__pwned=1} {{constructor}}. End.", "span_start": 7, "span_end": 47,
    "support": 0.9,
}


def test_md_escape_keeps_markup_literal() -> None:
    out = md_escape('<script>x</script> <img src=x onerror="y"> **b** [l](javascript:z) & $$')
    assert "<" not in out and ">" not in out
    assert "&lt;script&gt;" in out and "&amp;" in out
    assert r"\*\*b\*\*" in out and r"\[l\]" in out and r"\$\$" in out


def test_h_and_safe_url() -> None:
    assert h('"<a>" ${x} {{y}}') == "&quot;&lt;a&gt;&quot; &#36;&#123;x&#125; &#123;&#123;y&#125;&#125;"
    assert safe_url("https://news.example/a?b=1") == "https://news.example/a?b=1"
    for bad in ("javascript:alert(1)", "data:text/html,x", "//evil.example", 'https://x.example/"a',
                None, ""):
        assert safe_url(bad) is None


def test_cards_escape_everything_and_drop_unsafe_links() -> None:
    out = cards_html({"abstained": False, "citations": [HOSTILE], "sentences": [
        {"text": "Intro.", "citations": [1], "support": 0.9, "supported": True}]})
    assert "<script" not in out and "<img" not in out and "<b>" not in out
    assert "javascript:" not in out.split("nr-passage")[0]  # no link made from a javascript: URL
    assert "&lt;script&gt;" in out and "&#36;&#123;window" in out
    assert 'href="' not in out


def test_not_covered_card() -> None:
    out = cards_html({"abstained": True, "answer": "The indexed news does not cover this.",
                      "citations": []})
    assert 'class="nr-empty"' in out and "Not covered by the indexed news" in out


def test_span_marks_the_supporting_sentence(news_rag: Any) -> None:
    answer = news_rag.ask("How many drivers walked off the job when the Port Calder transit "
                          "strike began?", as_of="2026-11-24")
    data = answer_to_dict(answer)
    assert data["citations"]
    for c in data["citations"]:
        claims = [s["text"] for s in data["sentences"] if c["number"] in s["citations"]]
        span = passage_span(c, claims)
        assert span is not None
        article = news_rag.index.catalog.article_text(c["article_id"])
        assert c["passage"][span[0]:span[1]] == article[c["span_start"]:c["span_end"]]
        assert f"<mark>{h(c['passage'][span[0]:span[1]])}</mark>" in cards_html(data)


def test_span_from_chunk_start_when_given() -> None:
    c = {"passage": "One. Two three. Four.", "span_start": 105, "span_end": 115, "chunk_start": 100}
    assert passage_span(c, []) == (5, 15)
    assert passage_span(c | {"chunk_start": 200}, []) is None


def test_example_questions_cover_every_kind() -> None:
    examples = example_questions()
    assert len(examples) == 6 and all(as_of == "2026-11-24" for _, as_of in examples)
    assert any("last week" in q for q, _ in examples) and any("latest" in q for q, _ in examples)
