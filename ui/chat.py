"""The Gradio chat: streamed answers with [n] markers, source cards, filters, demo questions."""
# No `from __future__ import annotations`: Gradio reads `request: gr.Request` from the real
# annotation, and gradio is imported only in build_chat (5 s), so `newsrag ask` stays fast.
import html
import json
import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.citations import SupportScorer
from rag.errors import NewsragError
from rag.settings import Settings

if TYPE_CHECKING:
    import gradio as gr

QUESTIONS = Path(__file__).resolve().parent.parent / "demo" / "questions.jsonl"
MAX_TURNS = 6  # earlier turns passed on to condense a follow-up question
NOT_COVERED_TITLE = "Not covered by the indexed news"
log = logging.getLogger("newsrag.chat")

CSS = """
#nr-sources .nr-card { border: 1px solid #d0d7de; border-radius: 8px; padding: 10px 12px;
  margin: 0 0 10px; background: #fff; color: #1f2328; }
#nr-sources .nr-head { font-weight: 600; }
#nr-sources .nr-num { color: #0969da; margin-right: 4px; }
#nr-sources .nr-meta { color: #57606a; font-size: 0.85em; margin: 2px 0 6px; }
#nr-sources .nr-passage { white-space: pre-wrap; font-size: 0.9em; margin: 0; line-height: 1.45; }
#nr-sources mark { background: #fff1a8; color: inherit; padding: 0 1px; }
#nr-sources .nr-empty { border: 1px dashed #bf8700; background: #fff8c5; color: #3d2e00;
  border-radius: 8px; padding: 12px; }
#nr-sources .nr-hint { color: #57606a; font-size: 0.9em; }
"""

_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|~$])")  # with <, >, & as entities: enough to stay literal
# what GFM turns into a link by itself: scheme://, www., name@host (rendered the same as entities)
_AUTOLINK = re.compile(r"(:)(?=//)|(?<=www)(\.)|(@)", re.IGNORECASE)
_DOLLAR_BRACE = str.maketrans({"{": "&#123;", "}": "&#125;", "$": "&#36;"})


def md_escape(text: str) -> str:
    """Text shown literally by a Markdown renderer that also accepts HTML: no markup, and no
    link from a bare URL or address (only a source card's own article URL is a link)."""
    text = _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))
    return _AUTOLINK.sub(lambda m: f"&#{ord(m.group())};", text)


def h(text: Any) -> str:
    """Text for an HTML attribute or element; braces and $ too, for gr.HTML's templating."""
    return html.escape("" if text is None else str(text), quote=True).translate(_DOLLAR_BRACE)


def safe_url(url: str | None) -> str | None:
    """Only http(s) links: a `javascript:` URL in an article must not become a link."""
    if url and re.match(r"^https?://[^\s\"'<>]+$", url.strip(), re.IGNORECASE):
        return url.strip()
    return None


def passage_span(citation: dict, claims: Sequence[str]) -> tuple[int, int] | None:
    """Where the supporting span lies in the passage (the citation's span is in the article)."""
    passage, length = citation["passage"], citation["span_end"] - citation["span_start"]
    if "chunk_start" in citation:
        a = citation["span_start"] - citation["chunk_start"]
        return (a, a + length) if 0 <= a and a + length <= len(passage) else None
    scorer = SupportScorer()  # the checker chose the span lexically: redo it for each claim
    for claim in claims:
        a, b = scorer.score(claim, passage).span
        if b - a == length:
            return a, b
    return None


def card_html(citation: dict, claims: Sequence[str]) -> str:
    """One source card: headline link, outlet, date, and the passage with its span marked."""
    passage, span = citation["passage"], passage_span(citation, claims)
    if span:
        a, b = span
        body = f"{h(passage[:a])}<mark>{h(passage[a:b])}</mark>{h(passage[b:])}"
    else:
        body = h(passage)
    url, title = safe_url(citation.get("url")), h(citation.get("title") or "(untitled)")
    head = (f'<a href="{h(url)}" target="_blank" rel="noopener noreferrer nofollow">{title}</a>'
            if url else title)
    meta = " · ".join(h(x) for x in (citation.get("source"), (citation.get("published") or "")[:10],
                                     url) if x)
    return (f'<div class="nr-card" id="nr-source-{int(citation["number"])}">'
            f'<div class="nr-head"><span class="nr-num">[{int(citation["number"])}]</span>{head}'
            f'</div><div class="nr-meta">{meta}</div><p class="nr-passage">{body}</p></div>')


def cards_html(answer: dict) -> str:
    """Source cards for an answer's citations, or the not-covered notice."""
    if answer.get("abstained") or not answer.get("citations"):
        return (f'<div class="nr-empty"><strong>{NOT_COVERED_TITLE}.</strong> No indexed article '
                "supports an answer to this question. Try other words, widen the outlet or date "
                "filters, or ask about a story the index holds.</div>")
    claims: dict[int, list[str]] = {}
    for s in answer.get("sentences", []):
        for n in s["citations"]:
            claims.setdefault(n, []).append(s["text"])
    cards = "".join(card_html(c, claims.get(c["number"], [])) for c in answer["citations"])
    return f'<div class="nr-cards">{cards}</div>'


def answer_markdown(answer: dict) -> str:
    if answer.get("abstained"):
        return f"**{NOT_COVERED_TITLE}.** {md_escape(answer['answer'])}"
    return md_escape(answer["answer"])


def stats_line(stats: dict) -> str:
    first, last = ((d or "?")[:10] for d in stats.get("date_range") or [None, None])
    outlets = ", ".join(md_escape(s) for s in stats.get("sources", {}))
    return (f"Answers come only from the **{stats['articles']} indexed articles** ({first} to "
            f"{last}; {outlets or 'no outlets yet'}). Every claim cites the passage it rests on.")


def example_questions(path: Path = QUESTIONS, n: int = 6) -> list[list[str]]:
    """A spread of demo questions (the first of each kind, then in order), with as-of dates."""
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    firsts: dict[str, dict] = {}
    for r in rows:
        firsts.setdefault(r["kind"], r)
    spread = rows[:: max(1, len(rows) // n)]  # the demo file is grouped by story
    ordered = list(firsts.values()) + [r for r in spread if r not in firsts.values()]
    return [[r["question"], r.get("as_of", "")] for r in ordered[:n]]


def build_chat(rag: Any, settings: Settings, limiter: Any) -> "gr.Blocks":
    """The chat Blocks; `limiter` (see ui.server.RateLimiter) is shared with the JSON API."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    stats = rag.stats()

    def respond(message: str, messages: list, pairs: list, outlets: list | None, since: str,
                until: str, as_of: str, request: gr.Request) -> Iterator[tuple]:
        question = (message or "").strip()
        if not question:
            yield messages, pairs, gr.update(), message
            return
        messages = messages + [{"role": "user", "content": md_escape(question)},
                               {"role": "assistant", "content": "_Searching the news…_"}]
        retry = limiter.hit(request.client.host if request and request.client else "unknown")
        if retry is not None:
            messages[-1]["content"] = md_escape(limiter.message(retry))
            yield messages, pairs, gr.update(), ""
            return
        yield messages, pairs, '<p class="nr-hint">Searching…</p>', ""
        text, answer = "", None
        try:
            for event in rag.ask_stream(
                    question, history=[tuple(p) for p in pairs][-MAX_TURNS:],
                    sources=outlets or None, since=(since or "").strip() or None,
                    until=(until or "").strip() or None, as_of=(as_of or "").strip() or None):
                if event["event"] in ("delta", "reset"):
                    text = text + event["text"] if event["event"] == "delta" else event["text"]
                    messages[-1]["content"] = md_escape(text)
                    yield messages, pairs, gr.update(), ""
                elif event["event"] == "answer":
                    answer = event["data"]
        except NewsragError as e:
            messages[-1]["content"] = "**Cannot answer:** " + md_escape(str(e))
            yield messages, pairs, gr.update(value=""), ""
            return
        except Exception:  # say so in the chat rather than leave "Searching" up
            log.exception("answering failed")
            messages[-1]["content"] = "**Something went wrong while answering.** Try again."
            yield messages, pairs, gr.update(value=""), ""
            return
        if answer is None:
            return
        messages[-1]["content"] = answer_markdown(answer)
        turn = len(pairs) + 1  # marks which answer the cards belong to
        shown = f'<div class="nr-turn" data-turn="{turn}">{cards_html(answer)}</div>'
        yield messages, pairs + [[question, answer["answer"]]], shown, ""

    def refresh() -> tuple:
        s = rag.stats()
        return stats_line(s), gr.update(choices=list(s.get("sources", {})))

    with gr.Blocks(title="newsrag: ask the news") as blocks:
        gr.Markdown("## Ask the news")
        header = gr.Markdown(stats_line(stats), elem_id="nr-stats")
        chatbot = gr.Chatbot(
            label="Answers", elem_id="nr-chat", height=380, sanitize_html=True,
            render_markdown=True, latex_delimiters=[], allow_tags=False, feedback_options=None,
            buttons=["copy", "copy_all"],
            placeholder="Ask a question about the indexed news. Follow-up questions keep the "
                        "conversation.")
        with gr.Row():
            box = gr.Textbox(show_label=False, placeholder="e.g. Who mediated the transit strike?",
                             max_length=settings.max_question_chars, scale=5,
                             elem_id="nr-question", autofocus=True)
            ask = gr.Button("Ask", variant="primary", scale=1, elem_id="nr-ask")
            clear = gr.Button("New conversation", scale=1, elem_id="nr-clear")
        with gr.Accordion("Filters", open=False), gr.Row():
            outlets = gr.Dropdown(choices=list(stats.get("sources", {})), multiselect=True,
                                  label="Outlets", info="none selected = all outlets")
            since = gr.Textbox(label="Published since", placeholder="YYYY-MM-DD")
            until = gr.Textbox(label="Published until", placeholder="YYYY-MM-DD")
            as_of = gr.Textbox(label="As of", placeholder="YYYY-MM-DD (default: today)",
                               info="'last week' and 'latest' are read against this day")
        gr.Markdown("### Sources")
        cards = gr.HTML('<p class="nr-hint">The passages an answer cites appear here.</p>',
                        elem_id="nr-sources", js_on_load=None)
        examples = example_questions()
        if examples:
            gr.Examples(examples, inputs=[box, as_of], label="Demo questions (as of 2026-11-24)",
                        example_labels=[q for q, _ in examples])
        pairs = gr.State([])
        inputs = [box, chatbot, pairs, outlets, since, until, as_of]
        outputs = [chatbot, pairs, cards, box]
        for trigger in (box.submit, ask.click):
            trigger(respond, inputs, outputs, concurrency_limit=8, api_visibility="private")
        clear.click(lambda: ([], [], '<p class="nr-hint">New conversation.</p>', ""), None,
                    outputs, api_visibility="private")
        chatbot.clear(lambda: ([], '<p class="nr-hint">New conversation.</p>'), None,
                      [pairs, cards], api_visibility="private")
        blocks.load(refresh, None, [header, outlets], api_visibility="private")
    return blocks
