"""The Gradio chat: streamed answers with [n] markers, source cards, filters, demo questions."""
# No `from __future__ import annotations`: Gradio reads `request: gr.Request` from the real
# annotation, and gradio is imported only in build_chat (5 s), so `newsrag ask` stays fast.
import html
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import NewsragError
from rag.settings import Settings
from rag.types import HISTORY_TURNS_ACCEPTED
from ui.cards import by_article
from ui.commands import close_quotes
from ui.errors import reader_message
from ui.watching import freshness, stats_with_feeds

if TYPE_CHECKING:
    import gradio as gr

QUESTIONS = Path(__file__).resolve().parent.parent / "demo" / "questions.jsonl"
NOT_COVERED_TITLE = "Not covered by the indexed news"
HINT = '<p class="nr-hint">The passages an answer cites appear here.</p>'
log = logging.getLogger("newsrag.chat")

CSS = """
#nr-sources .nr-card { border: 1px solid #d0d7de; border-radius: 8px; padding: 10px 12px;
  margin: 0 0 10px; background: #fff; color: #1f2328; }
#nr-sources .nr-head { font-weight: 600; }
#nr-sources .nr-num { color: #0969da; margin-right: 4px; }
#nr-sources .nr-meta { color: #57606a; font-size: 0.85em; margin: 2px 0 6px; }
#nr-sources .nr-passage { white-space: pre-wrap; font-size: 0.9em; margin: 0; line-height: 1.45; }
#nr-sources .nr-gap { color: #57606a; margin: 2px 0; }
#nr-sources mark { background: #fff1a8; color: inherit; padding: 0 1px; }
#nr-sources .nr-empty { border: 1px dashed #bf8700; background: #fff8c5; color: #3d2e00;
  border-radius: 8px; padding: 12px; }
#nr-sources .nr-hint { color: #57606a; font-size: 0.9em; }
#nr-sources .nr-turn { margin: 0 0 14px; }
#nr-sources .nr-turn-head { margin: 0 0 6px; font-size: 0.95em; color: #1f2328; }
#nr-sources .nr-asof { color: #57606a; font-weight: normal; }
#nr-sources .nr-card.nr-flash { animation: nr-flash 1.6s ease-out; border-color: #0969da; }
#nr-sources mark + mark { border-left: 2px solid #d4a72c; }
#nr-sources mark.nr-focus { background: #ffd33d; outline: 2px solid #bf8700; }
@keyframes nr-flash { from { box-shadow: 0 0 0 4px rgba(9, 105, 218, .45); }
  to { box-shadow: 0 0 0 0 rgba(9, 105, 218, 0); } }
#nr-status { color: #9a6700; min-height: 0; }
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


def marked(passage: str, spans: Sequence[tuple[int, int, int]]) -> str:
    """The passage as HTML with each sentence's span in a <mark data-s=i>; overlapping spans
    (two sentences resting on one line) merge into the first one."""
    out, at = [], 0
    for a, b, i in sorted(spans):
        a, b = max(a, at), min(b, len(passage))
        if b <= a:
            continue
        out.append(f'{h(passage[at:a])}<mark data-s="{int(i)}">{h(passage[a:b])}</mark>')
        at = b
    out.append(h(passage[at:]))
    return "".join(out)


def card_id(turn: int, number: int) -> str:
    return f"nr-t{int(turn)}-c{int(number)}"


def card_html(card: dict, turn: int = 1) -> str:
    """One source card per article: headline link, outlet, date, and its cited passages with
    every sentence the answer rests on marked (ui.cards.by_article)."""
    url, title = safe_url(card.get("url")), h(card.get("title") or "(untitled)")
    head = (f'<a href="{h(url)}" target="_blank" rel="noopener noreferrer nofollow">{title}</a>'
            if url else title)
    meta = " · ".join(h(x) for x in (card.get("source"), (card.get("published") or "")[:10],
                                     url) if x)
    n = int(card["number"])
    passages = '<p class="nr-gap">…</p>'.join(
        f'<p class="nr-passage">{marked(ex["text"], ex["marks"])}</p>' for ex in card["excerpts"])
    return (f'<div class="nr-card" id="{card_id(turn, n)}" data-n="{n}">'
            f'<div class="nr-head"><span class="nr-num">[{n}]</span>{head}'
            f'</div><div class="nr-meta">{meta}</div>{passages}</div>')


def cards_html(answer: dict, turn: int = 1) -> str:
    """Source cards for an answer, one per article, or the not-covered notice."""
    if answer.get("abstained") or not answer.get("citations"):
        return (f'<div class="nr-empty"><strong>{NOT_COVERED_TITLE}.</strong> No indexed article '
                "supports an answer to this question. Try other words, widen the outlet or date "
                "filters, or ask about a story the index holds.</div>")
    cards = "".join(card_html(card, turn) for card in by_article(answer)["cards"])
    return f'<div class="nr-cards">{cards}</div>'


def turn_html(turn: int, question: str, answer: dict) -> str:
    """One answer's block in the Sources panel: which question it answered, then its cards."""
    when = as_of_label(answer.get("as_of"))
    return (f'<section class="nr-turn" data-turn="{int(turn)}"><h4 class="nr-turn-head">'
            f"Answer {int(turn)}: {h(question[:160])}{'…' if len(question) > 160 else ''}"
            f'{f" <span class=nr-asof>({h(when)})</span>" if when else ""}</h4>'
            f"{cards_html(answer, turn)}</section>")


def sources_html(turns: Sequence[str]) -> str:
    """Every turn's sources, newest first: an earlier answer's [n] still finds its own card."""
    if not turns:
        return HINT
    return "".join(reversed(turns))


def as_of_label(as_of: str | None) -> str:
    """'as of 24 November 2026' for the day questions were read against."""
    try:
        d = date.fromisoformat((as_of or "")[:10])
    except ValueError:
        return ""
    return f"as of {d.day} {d.strftime('%B')} {d.year}"


def answer_markdown(answer: dict, turn: int = 1) -> str:
    """The answer for the chat bubble: each [n] a link to its card (the sentence's own span),
    and the day it was read against."""
    when = as_of_label(answer.get("as_of"))
    answer = by_article(answer)  # [n] numbers the card, one per article
    if answer.get("abstained"):
        text = (f"**{NOT_COVERED_TITLE}.** No indexed article supports an answer to this "
                "question.")
        return f"{text}\n\n_{when[0].upper() + when[1:]}._" if when else text
    parts = []
    for i, s in enumerate(answer.get("sentences", [])):
        body = md_escape(close_quotes(s["text"]))
        if s.get("supported", True) and s.get("citations"):
            body += " " + "".join(
                f"[\\[{int(n)}\\]](#{card_id(turn, n)}-s{i})" for n in s["citations"])
        elif not s.get("supported", True):
            body += " _(unverified)_"
        parts.append(body)
    text = " ".join(parts) if parts else md_escape(answer["answer"])
    return f"{text}\n\n_{when[0].upper() + when[1:]}._" if when else text


def stats_line(stats: dict) -> str:
    first, last = ((d or "?")[:10] for d in stats.get("date_range") or [None, None])
    outlets = ", ".join(md_escape(s) for s in stats.get("sources", {}))
    fresh = freshness(stats)
    return (f"Answers come only from the **{stats['articles']} indexed articles** ({first} to "
            f"{last}; {outlets or 'no outlets yet'}). Every claim cites the passage it rests on."
            + (f" {md_escape(fresh)}." if fresh else ""))


def as_of_note(as_of: str | None, stats: dict, today: date | None = None) -> str:
    """What the next question is read against, said beside the question box; and, when all the
    indexed news predates that day by over a week (a demo index), that it does."""
    today = today or datetime.now(UTC).date()
    typed = (as_of or "").strip()
    try:
        day = date.fromisoformat(typed) if typed else today
    except ValueError:
        return (f"**As of** {md_escape(typed[:24])} is not a day: write it as YYYY-MM-DD, or "
                "clear it for today.")
    text = f"Questions are read **{as_of_label(day.isoformat())}**" + (
        " (today)" if day == today else "") + "."
    newest = ((stats.get("date_range") or [None, None])[1] or "")[:10]
    try:
        gap = (day - date.fromisoformat(newest)).days
    except ValueError:
        return text
    if gap > 7:
        text += (f" All the indexed news predates that day: the newest article is from "
                 f"{as_of_label(newest).removeprefix('as of ')}, {gap} days earlier, so \"last "
                 "week\" and \"latest\" may find nothing. Set **As of** under Filters to an "
                 "earlier day, or click a demo question.")
    return text


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


# A click on an answer's [n] scrolls to that turn's card and flashes the sentence's own span.
CITE_JS = """
() => {
  if (window.__nrCites) return;
  window.__nrCites = true;
  document.addEventListener("click", (ev) => {
    const a = ev.target && ev.target.closest ? ev.target.closest("a[href*='#nr-t']") : null;
    const m = a && /#(nr-t\\d+-c\\d+)(?:-s(\\d+))?$/.exec(a.getAttribute("href") || "");
    if (!m) return;
    ev.preventDefault();
    ev.stopPropagation();
    const card = document.getElementById(m[1]);
    if (!card) return;
    document.querySelectorAll("#nr-sources .nr-flash, #nr-sources .nr-focus")
      .forEach((e) => e.classList.remove("nr-flash", "nr-focus"));
    card.scrollIntoView({ behavior: "smooth", block: "center" });
    void card.offsetWidth;
    card.classList.add("nr-flash");
    const mark = m[2] !== undefined ? card.querySelector('mark[data-s="' + m[2] + '"]') : null;
    if (mark) mark.classList.add("nr-focus");
  }, true);
}
"""


def _responder(rag: Any, limit: int, limiter: Any) -> Callable[..., Iterator[tuple]]:
    """The chat's answer handler: refuses an empty or too long question, or a client over its
    rate, then streams the verified answer into the conversation."""
    import gradio as gr

    def respond(message: str, messages: list, pairs: list, turns: list, outlets: list | None,
                since: str, until: str, as_of: str, pinned: str,
                request: gr.Request) -> Iterator[tuple]:
        """Outputs: chat, pairs, turns (each answer's sources), sources panel, box, status,
        pinned as-of (a demo question's own day, used once)."""
        question = (message or "").strip()
        if (refused := _refusal(question, limit, message, messages, pairs, turns)) is not None:
            yield refused
            return
        messages = messages + [{"role": "user", "content": md_escape(question)},
                               {"role": "assistant", "content": "_Searching the news…_"}]
        retry = limiter.hit(request.client.host if request and request.client else "unknown")
        if retry is not None:
            messages[-1]["content"] = md_escape(limiter.message(retry))
            yield messages, pairs, turns, gr.update(), "", "", ""
            return
        yield messages, pairs, turns, gr.update(), "", "", pinned
        day = ((as_of or "").strip() or (pinned or "").strip()
               or _page_as_of(request) or None)  # the box, a demo question, the page, or today
        yield from _answered(rag, question, messages, pairs, turns, outlets, since, until, day)

    return respond


def _refusal(question: str, limit: int, message: str, messages: list, pairs: list,
             turns: list) -> tuple | None:
    """The chat's outputs refusing an empty or too long question; None for one to answer."""
    import gradio as gr

    if not question:
        return (messages, pairs, turns, gr.update(), message,
                "Type a question first: the box is empty.", "")
    if len(question) > limit:
        return (_too_long(question, limit, messages), pairs, turns, gr.update(), message,
                f"The question is {len(question):,} characters; the limit is {limit:,}.", "")
    return None


def _answered(rag: Any, question: str, messages: list, pairs: list, turns: list,
              outlets: list | None, since: str, until: str,
              day: str | None) -> Iterator[tuple]:
    """The chat's outputs while the answer streams into the last message, then with its
    sources; a failure is said in the chat."""
    import gradio as gr

    turn = len(turns) + 1  # which answer the cards belong to
    answer = None
    try:
        events = rag.ask_stream(
            question, history=[tuple(p) for p in pairs][-HISTORY_TURNS_ACCEPTED:],
            sources=outlets or None, since=(since or "").strip() or None,
            until=(until or "").strip() or None, as_of=day)
        for text, answer in _texts(events):
            if text is not None:
                messages[-1]["content"] = md_escape(text)
                yield messages, pairs, turns, gr.update(), "", "", ""
    except NewsragError as e:
        messages[-1]["content"] = "**Cannot answer:** " + md_escape(reader_message(e))
        yield messages, pairs, turns, gr.update(), "", "", ""
        return
    except Exception:  # say so in the chat rather than leave "Searching" up
        log.exception("answering failed")
        messages[-1]["content"] = "**Something went wrong while answering.** Try again."
        yield messages, pairs, turns, gr.update(), "", "", ""
        return
    if answer is None:
        return
    messages[-1]["content"] = answer_markdown(answer, turn)
    turns = turns + [turn_html(turn, question, answer)]
    yield (messages, pairs + [[question, answer["answer"]]], turns, sources_html(turns), "",
           "", "")


def _too_long(question: str, limit: int, messages: list) -> list:
    return messages + [
        {"role": "user", "content": md_escape(question[:200]) + "…"},
        {"role": "assistant", "content": (
            f"**Too long to ask.** This question is {len(question):,} characters long; "
            f"the limit is {limit:,}. Shorten it and ask again (it is still in the box).")}]


def _texts(events: Iterable[dict]) -> Iterator[tuple[str | None, dict | None]]:
    """(the answer's text so far, None) on each delta or reset, then (None, the answer)."""
    text = ""
    for event in events:
        if event["event"] in ("delta", "reset"):
            text = text + event["text"] if event["event"] == "delta" else event["text"]
            yield text, None
        elif event["event"] == "answer":
            yield None, event["data"]


def build_chat(rag: Any, settings: Settings, limiter: Any) -> "gr.Blocks":
    """The chat Blocks; `limiter` (see ui.server.RateLimiter) is shared with the JSON API."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    stats = stats_with_feeds(rag)
    limit = settings.max_question_chars
    examples = example_questions()

    respond = _responder(rag, limit, limiter)

    def refresh(request: gr.Request) -> tuple:
        """On page load: the stats, the outlets, and the page's own as-of day in the box."""
        s = stats_with_feeds(rag)
        day = _page_as_of(request)
        return (stats_line(s), gr.update(choices=list(s.get("sources", {}))),
                gr.update(value=day) if day else gr.update(), as_of_note(day, s))

    def noted(day: str) -> str:
        return as_of_note(day, stats_with_feeds(rag))

    def pick(i: int) -> tuple[str, str, str]:
        """A demo question, and its day in the As-of box: the day the reader sees is the one
        used, for this question and the ones typed after it."""
        question, day = examples[int(i)]
        return question, day, day

    def restart() -> tuple:
        return [], [], [], '<p class="nr-hint">New conversation.</p>', "", "", ""

    with gr.Blocks(title="newsrag: ask the news") as blocks:
        gr.Markdown("## Ask the news")
        header = gr.Markdown(stats_line(stats), elem_id="nr-stats")
        chatbot = _chatbot()
        box, ask, clear = _question_row(limit)
        status = gr.Markdown("", elem_id="nr-status")
        note = gr.Markdown(as_of_note("", stats), elem_id="nr-asof-note")
        outlets, since, until, as_of = _filters(stats)
        demo = _demo_questions(examples)
        gr.Markdown("### Sources")
        cards = gr.HTML(HINT, elem_id="nr-sources", js_on_load=None)
        pairs, turns, pinned = gr.State([]), gr.State([]), gr.State("")
        inputs = [box, chatbot, pairs, turns, outlets, since, until, as_of, pinned]
        outputs = [chatbot, pairs, turns, cards, box, status, pinned]
        for trigger in (box.submit, ask.click):
            trigger(respond, inputs, outputs, concurrency_limit=8, api_visibility="private")
        if demo is not None:
            demo.click(pick, [demo], [box, as_of, pinned], api_visibility="private").then(
                respond, inputs, outputs, concurrency_limit=8, api_visibility="private")
        clear.click(restart, None, outputs, api_visibility="private")
        chatbot.clear(lambda: ([], [], '<p class="nr-hint">New conversation.</p>'), None,
                      [pairs, turns, cards], api_visibility="private")
        as_of.change(noted, [as_of], [note], api_visibility="private")
        blocks.load(refresh, None, [header, outlets, as_of, note], api_visibility="private")
    return blocks


def _chatbot() -> "gr.Chatbot":
    """The conversation: Markdown without LaTeX or HTML tags, and copy buttons."""
    import gradio as gr

    return gr.Chatbot(
        label="Answers", elem_id="nr-chat", height=380, sanitize_html=True,
        render_markdown=True, latex_delimiters=[], allow_tags=False, feedback_options=None,
        buttons=["copy", "copy_all"],
        placeholder="Ask a question about the indexed news. Follow-up questions keep the "
                    "conversation.")


def _question_row(limit: int) -> tuple["gr.Textbox", "gr.Button", "gr.Button"]:
    """The question box, its Ask button and the New conversation button, in one row."""
    import gradio as gr

    with gr.Row():
        # no max_length: the browser would cut a long paste silently; respond() refuses it
        box = gr.Textbox(show_label=False, scale=5, elem_id="nr-question", autofocus=True,
                         placeholder=f"e.g. Who mediated the transit strike? (up to {limit:,} "
                                     "characters)")
        ask = gr.Button("Ask", variant="primary", scale=1, elem_id="nr-ask")
        clear = gr.Button("New conversation", scale=1, elem_id="nr-clear")
    return box, ask, clear


def _filters(stats: dict) -> tuple["gr.Dropdown", "gr.Textbox", "gr.Textbox", "gr.Textbox"]:
    """The Filters accordion: outlets, published since and until, and the as-of day."""
    import gradio as gr

    with gr.Accordion("Filters", open=False), gr.Row():
        outlets = gr.Dropdown(choices=list(stats.get("sources", {})), multiselect=True,
                              label="Outlets", info="none selected = all outlets")
        since = gr.Textbox(label="Published since", placeholder="YYYY-MM-DD")
        until = gr.Textbox(label="Published until", placeholder="YYYY-MM-DD")
        as_of = gr.Textbox(label="As of", placeholder="YYYY-MM-DD (empty: today)",
                           elem_id="nr-asof",
                           info="'last week' and 'latest' are read against this day")
    return outlets, since, until, as_of


def _demo_questions(examples: list[list[str]]) -> "gr.Dataset | None":
    """The demo questions to click, if there are any."""
    import gradio as gr

    if not examples:
        return None
    return gr.Dataset(components=["textbox"], samples=[[q] for q, _ in examples],
                      type="index", elem_id="nr-demo", samples_per_page=len(examples),
                      label=f"Demo questions: click one to ask it (as of {examples[0][1]})")


def _page_as_of(request: Any) -> str:
    """The page's own as-of day (`/?as_of=2026-11-24`), if it pins one."""
    try:
        return (request.query_params.get("as_of") or "").strip()
    except AttributeError:
        return ""
