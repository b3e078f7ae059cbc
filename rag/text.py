"""Sentence spans and word tokens: the small text tools retrieval, answers and ingest share."""
from __future__ import annotations

import re

_ABBREV = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "gen", "gov", "sen", "rep", "col", "lt",
    "sgt", "capt", "inc", "ltd", "co", "corp", "vs", "etc", "no", "jan", "feb", "mar", "apr",
    "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "u.s", "u.k", "u.n", "e.g", "i.e",
}
# candidate sentence ends: terminal punctuation, closing quotes/brackets, then space; or a blank line
_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9])|\n\s*\n")
_WORD = re.compile(r"[\w][\w'’\-.]*[\w]|[\w]", re.UNICODE)

STOPWORDS = frozenset(
    ["a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves", "also", "said", "says", "say", "according", "new", "one", "two", "week", "weeks", "year", "years", "recent", "recently", "latest", "last", "next", "today", "yesterday", "tomorrow", "happened", "happen", "did", "does", "many", "much"]
)


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences in text[start:end], trimmed of whitespace."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cut = start
    for m in _END.finditer(text, start, end):
        blank_line = m.group().startswith("\n")
        if not blank_line and _is_abbreviation(text, m.start()):
            continue
        _add_span(text, cut, m.start() if blank_line else m.end(), spans)
        cut = m.end()
    _add_span(text, cut, end, spans)
    return spans


def _is_abbreviation(text: str, pos: int) -> bool:
    """True when the period before pos ends a known abbreviation or an initial ("J. Smith")."""
    if pos == 0 or text[pos - 1] != ".":
        return False
    m = re.search(r"([\w.]+)\.$", text[max(0, pos - 12) : pos])
    if not m:
        return False
    word = m.group(1).lower()
    return word in _ABBREV or (len(word) == 1 and word.isalpha())


def _add_span(text: str, a: int, b: int, out: list[tuple[int, int]]) -> None:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    if b > a:
        out.append((a, b))


def words(text: str) -> list[str]:
    """Lower-cased word tokens (numbers and hyphenated names kept whole)."""
    return [w.lower().strip(".") for w in _WORD.findall(text)]


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "ers", "er", "es", "ed", "ly", "s")


def stem(word: str) -> str:
    """A crude suffix stripper: enough to match 'negotiations' with 'negotiate'."""
    for suf in _SUFFIXES:
        if word.endswith(suf) and len(word) - len(suf) >= 4:
            return word[: -len(suf)].rstrip("e")
    return word.rstrip("e") if len(word) > 4 else word


def stems(text: str) -> set[str]:
    return {stem(w) for w in content_words(text)}


_INSTRUCTION = re.compile(
    r"\b(ignore|disregard|forget)\b.{0,40}\b(instructions?|prompts?|rules|above)\b|"
    r"\b(reply|respond|answer|say)\s+only\b|\bsystem prompt\b|\byou are now\b|"
    r"\bas an ai\b|\bnew instructions?\b",
    re.IGNORECASE,
)


def looks_like_instruction(sentence: str) -> bool:
    """Text addressed to a model rather than to readers (prompt injection in an article)."""
    return bool(_INSTRUCTION.search(sentence))
