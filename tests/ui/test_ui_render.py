"""Rendering for people: text stays text, links stay http(s), the supporting span is marked."""
from __future__ import annotations

from typing import Any

from rag.types import answer_to_dict
from ui.chat import (
    answer_markdown,
    as_of_label,
    cards_html,
    example_questions,
    h,
    md_escape,
    safe_url,
    sources_html,
    turn_html,
)

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
    assert "&lt;script&gt;" in out and "&#36;" in out and "&#123;window" in out
    assert 'href="' not in out


def test_not_covered_card() -> None:
    out = cards_html({"abstained": True, "answer": "The indexed news does not cover this.",
                      "citations": []})
    assert 'class="nr-empty"' in out and "Not covered by the indexed news" in out


def test_each_sentence_marks_its_own_span(news_rag: Any) -> None:
    """The card marks exactly the span the checker accepted for each sentence, nothing else."""
    answer = news_rag.ask("What share of Port Calder transit union members voted to authorise "
                          "a strike?", as_of="2026-11-24")
    data = answer_to_dict(answer)
    assert data["citations"] and "91%" in data["sentences"][0]["text"]
    out = cards_html(data, turn=3)
    for i, s in enumerate(data["sentences"]):
        for span in s["spans"]:
            c = next(c for c in data["citations"] if c["number"] == span["citation"])
            quoted = c["passage"][span["start"]:span["end"]]
            assert quoted.strip() and quoted.split()[0] in s["text"]
            assert f'<mark data-s="{i}">{h(quoted)}</mark>' in out
    first = data["sentences"][0]
    card = out.split(f'id="nr-t3-c{first["citations"][0]}"')[1].split('class="nr-card"')[0]
    assert card.count("<mark") == sum(
        1 for s in data["sentences"] for sp in s["spans"] if sp["citation"] == first["citations"][0])
    assert "91% of members" in card.split('<mark data-s="0">')[1].split("</mark>")[0]


def test_marks_do_not_overlap_or_spill() -> None:
    c = {"number": 2, "passage": "One two. Three four. Five six.", "span_start": 0, "span_end": 8,
         "chunk_start": 0, "title": "T"}
    answer = {"citations": [c], "sentences": [
        {"text": "Three four.", "citations": [2], "spans": [{"citation": 2, "start": 9, "end": 20}]},
        {"text": "Four. Five", "citations": [2], "spans": [{"citation": 2, "start": 15, "end": 25}]}]}
    out = cards_html(answer, turn=1)
    assert ('One two. <mark data-s="0">Three four.</mark><mark data-s="1"> Five</mark> six.'
            in out)


def test_span_from_chunk_start_when_given() -> None:
    from ui.cards import own_span

    c = {"passage": "One. Two three. Four.", "span_start": 105, "span_end": 115, "chunk_start": 100}
    assert own_span(c) == (5, 15)
    assert own_span(c | {"chunk_start": 200}) is None


def test_markers_link_to_their_turns_card() -> None:
    answer = {"abstained": False, "as_of": "2026-11-24", "answer": "A [1]. B [2]", "sentences": [
        {"text": "A <b>x</b>.", "citations": [1], "supported": True},
        {"text": "B.", "citations": [2, 1], "supported": True},
        {"text": "C.", "citations": [], "supported": False}]}
    md = answer_markdown(answer, turn=4)
    assert "[\\[1\\]](#nr-t4-c1-s0)" in md and "[\\[2\\]](#nr-t4-c2-s1)[\\[1\\]](#nr-t4-c1-s1)" in md
    assert "&lt;b&gt;" in md and "C. _(unverified)_" in md
    assert md.endswith("_As of 24 November 2026._")
    assert as_of_label("2026-12-02") == "as of 2 December 2026" and as_of_label("junk") == ""


def test_sources_keep_every_turn_newest_first() -> None:
    c = {"number": 1, "passage": "P.", "span_start": 0, "span_end": 2, "chunk_start": 0,
         "title": "First"}
    one = turn_html(1, "Who?", {"citations": [c], "sentences": [], "as_of": "2026-11-24"})
    two = turn_html(2, "And then?", {"abstained": True, "citations": []})
    out = sources_html([one, two])
    assert out.index('data-turn="2"') < out.index('data-turn="1"')
    assert 'id="nr-t1-c1"' in out and "Answer 1: Who?" in out and "Not covered" in out
    assert "(as of 24 November 2026)" in out


def test_example_questions_cover_every_kind() -> None:
    examples = example_questions()
    assert len(examples) == 6 and all(as_of == "2026-11-24" for _, as_of in examples)
    assert any("last week" in q for q, _ in examples) and any("latest" in q for q, _ in examples)
