"""Follow-up questions made standalone: by the LLM when one is configured, else by carrying over
the previous turn's subject."""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from rag.text import STOPWORDS, content_words

_FOLLOW_UP = re.compile(
    r"^\s*(and|but|also|so|what about|how about|then|plus)\b|"
    r"\b(it|its|they|them|their|theirs|he|him|his|she|her|this|that|these|those|there|"
    r"the same|the deal|the strike|the company|the council)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"\b[A-Z][\w'’\-]+(?:\s+[A-Z][\w'’\-]+)*")

REWRITE_PROMPT = (
    "Rewrite the last question as one standalone question that can be understood without the "
    "conversation. Reply with the question only.\n\nConversation:\n{conversation}\n\n"
    "Last question: {question}"
)


def subject_of(text: str) -> list[str]:
    """Names (capitalised phrases not at a sentence start alone) and key words of a turn."""
    names = [m.group() for m in _NAME.finditer(text)]
    names = [n for n in names if n.lower() not in STOPWORDS and len(n) > 1]
    if names:
        return list(dict.fromkeys(names))
    return list(dict.fromkeys(content_words(text)))[:6]


def is_follow_up(question: str) -> bool:
    return bool(_FOLLOW_UP.search(question)) or len(content_words(question)) < 3


def standalone_query(
    question: str,
    history: Sequence[tuple[str, str]],
    rewrite: Callable[[str], str] | None = None,
) -> str:
    """The question as a search query that stands on its own."""
    if not history or not is_follow_up(question):
        return question
    if rewrite is not None:
        convo = "\n".join(f"User: {u}\nAssistant: {a}" for u, a in history)
        try:
            out = rewrite(REWRITE_PROMPT.format(conversation=convo, question=question)).strip()
            if out:
                return out.splitlines()[0][:500]
        except Exception:  # noqa: BLE001, S110  # the rewrite is a nicety: fall back to the heuristic
            pass
    previous = history[-1][0]
    own = {w.lower() for w in content_words(question)}
    # the previous turn's names carry its subject; its other words would swamp a new question
    # with words of its own, and are all there is to go on for one without ("what happened
    # next?", "why?")
    carried = [s for s in subject_of(previous) if s.lower() not in own]
    if len(own) < 2:
        carried += [w for w in content_words(previous)
                    if w not in own and w not in {c.lower() for c in " ".join(carried).split()}]
    return f"{question} ({' '.join(carried)})" if carried else question
