"""One source card per article: an answer's citations grouped by article and numbered by card,
each card holding its article's cited passages (merged where they overlap) and every sentence
the answer rests on in them. Works on the answer's JSON shape (rag.types.answer_to_dict)."""
from __future__ import annotations

import re
from typing import Any

_MARKS = re.compile(r"(?:\[\d{1,3}\])+")


def by_article(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer with `cards` (one per article, in order of first citation) and its sentences,
    text and citation numbers renumbered by card. A card: the article's metadata, `number`,
    and `excerpts` [{"start", "text", "marks": [(start, end, sentence index)]}], offsets into
    the excerpt's text (which is the article's text from `start`)."""
    if "cards" in answer:  # grouped already
        return answer
    citations = sorted(answer.get("citations") or [], key=lambda c: int(c["number"]))
    card_of: dict[str, int] = {}
    renumber: dict[int, int] = {}
    for c in citations:
        article = c.get("article_id") or f"#{c['number']}"  # without one: a card of its own
        renumber[int(c["number"])] = card_of.setdefault(article, len(card_of) + 1)
    groups = [[c for c in citations if renumber[int(c["number"])] == n]
              for n in range(1, len(card_of) + 1)]
    cards = [_card(n, group) for n, group in enumerate(groups, start=1)]
    by_number = {int(c["number"]): c for c in citations}
    sentences = []
    for i, s in enumerate(answer.get("sentences") or []):
        for span in s.get("spans") or []:
            cited = by_number.get(int(span["citation"]))
            if cited is not None:
                _mark(cards[renumber[int(cited["number"])] - 1], cited,
                      int(span["start"]), int(span["end"]), i)
        sentences.append({**s, "citations": list(dict.fromkeys(
            renumber.get(int(n), int(n)) for n in s.get("citations") or []))})
    for card, group in zip(cards, groups, strict=True):
        if not any(ex["marks"] for ex in card["excerpts"]):  # no sentence spans: the own span
            for c in group:
                if (own := own_span(c)) is not None:
                    _mark(card, c, *own, -1)
    return {**answer, "cards": cards, "sentences": sentences,
            "answer": _renumbered(str(answer.get("answer", "")), renumber)}


def own_span(citation: dict) -> tuple[int, int] | None:
    """The citation's own span as offsets into its passage (its span is in the article)."""
    passage, length = citation["passage"], citation["span_end"] - citation["span_start"]
    a = citation["span_start"] - citation.get("chunk_start", 0)
    return (a, a + length) if 0 <= a and a + length <= len(passage) else None


def _card(number: int, group: list[dict]) -> dict[str, Any]:
    """The article's card: its first citation's metadata, its passages merged in text order."""
    first = group[0]
    excerpts: list[dict[str, Any]] = []
    for c in sorted(group, key=lambda c: int(c.get("chunk_start", 0))):
        start, text = int(c.get("chunk_start", 0)), c["passage"]
        last = excerpts[-1] if excerpts else None
        if last is not None and start <= last["start"] + len(last["text"]):
            end = last["start"] + len(last["text"])
            last["text"] += text[end - start:]  # the part past the overlap, if any
        else:
            excerpts.append({"start": start, "text": text, "marks": []})
    return {"number": number, "article_id": first.get("article_id"), "title": first.get("title"),
            "source": first.get("source"), "url": first.get("url"),
            "published": first.get("published"), "excerpts": excerpts,
            "citations": [int(c["number"]) for c in group]}


def _mark(card: dict[str, Any], cited: dict, a: int, b: int, sentence: int) -> None:
    """Record a span of one cited passage in the card's excerpt that holds it."""
    start = int(cited.get("chunk_start", 0))
    for ex in card["excerpts"]:
        if ex["start"] <= start <= ex["start"] + len(ex["text"]):
            shift = start - ex["start"]
            if 0 <= a < b and (a + shift, b + shift, sentence) not in ex["marks"]:
                ex["marks"].append((a + shift, b + shift, sentence))
            return


def _renumbered(text: str, renumber: dict[int, int]) -> str:
    """'[1][2]' with both passages of one article -> '[1]'."""
    def one(m: re.Match) -> str:
        numbers = [renumber.get(int(n), int(n)) for n in re.findall(r"\d+", m.group())]
        return "".join(f"[{n}]" for n in dict.fromkeys(numbers))
    return _MARKS.sub(one, text)
