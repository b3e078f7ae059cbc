"""What a question asks for: its kind (who, where, when, how much, why, which thing, how it
ended, what happened), the terms it is about, and its parts when it asks two things."""
from __future__ import annotations

import re
from dataclasses import dataclass

from rag.text import content_words

KINDS = ("who", "where", "when", "quantity", "why", "which", "outcome", "event", "acronym",
         "other")

_RULES: list[tuple[str, re.Pattern]] = [
    ("acronym", re.compile(r"\b[Ww]hat (?:does|do|did) (?P<acro>[A-Z][A-Za-z.&]{1,9}) stand for\b|"
                           r"\b[Ww]hat is (?:the )?(?P<acro2>[A-Z]{2,8}) short for\b")),
    ("quantity", re.compile(r"\bhow (?:much|many|long|far|old|big|large|high|tall|deep|fast|"
                            r"often|heavy)\b|\bwhat (?:share|percentage|percent|proportion|"
                            r"fraction|number|amount|price|sum|figure|rate|level|age|raise|"
                            r"pay rise|increase|rise|cut|fee|fare|wage|bonus|discount|fine|"
                            r"penalty|tariff|reward|ransom|salary)\b|"
                            r"\bwhat (?:was|is|were|will be|will) the (?:[\w-]+ ){0,3}?"
                            r"(?:cost|price|total|number|toll|score|size|value|amount|share|rate|"
                            r"level|magnitude|population|temperature|height|speed|salary|fine|"
                            r"valuation|budget|margin|percentage|age|distance|weight|length|"
                            r"death toll|tally)\b|\bby how much\b|"
                            r"\bhow much\b|\bwhat (?:does|do|did|will|would) (?:[\w'’-]+ ){1,8}?"
                            r"cost\b", re.IGNORECASE)),
    ("when", re.compile(r"\bwhen\b|\bwhat (?:year|day|date|time|month|week)\b|"
                        r"\bwhich (?:year|day|date|month)\b|\bwhat time\b", re.IGNORECASE)),
    ("where", re.compile(r"\bwhere\b|\bwhat (?:country|city|state|town|place|region|nation|"
                         r"continent|county|venue|island|park)\b|\bwhich (?:country|city|state|"
                         r"town|place|region|nation|continent|county|venue|island|park|port)\b|"
                         r"\bin which (?:country|city|state|town)\b|"
                         r"\b(?:which|what) [A-Za-z-]+ (?:country|nation)\b", re.IGNORECASE)),
    ("why", re.compile(r"\bwhy\b|\bwhat (?:caused|led to|prompted|triggered|was the reason)\b|"
                       r"\bfor what reason\b|\bwhat is behind\b", re.IGNORECASE)),
    ("who", re.compile(r"\bwho(?:m|se)?\b|\bwhich (?:person|man|woman|official|company|firm|"
                       r"organisation|organization|group|union|team|agency|politician|player|"
                       r"leader|minister|executive|actor|singer|star)\b|\bwhat (?:company|firm|"
                       r"organisation|organization|group|agency|team)\b", re.IGNORECASE)),
    ("outcome", re.compile(r"\bhow did (?:.+?) (?:vote|end|react|respond|go|turn out|finish|"
                           r"rule|decide|fare)\b|\bhow (?:was|were) (?:.+?) (?:received|"
                           r"resolved|settled)\b|\bwhat (?:was|were) the (?:result|outcome|"
                           r"verdict|vote|ruling|decision)\b|\bwhat did (?:.+?) (?:decide|rule|"
                           r"agree)\b|\bwhat was decided\b", re.IGNORECASE)),
    ("event", re.compile(r"\bwhat (?:happened|has happened|is happening|is the latest|"
                         r"'s the latest|came next|happened next)\b|\bthe latest\b|"
                         r"\bany news\b|\bwhat(?:'s| is) new\b|\bupdate on\b", re.IGNORECASE)),
    ("which", re.compile(r"\bwhich\b|\bwhat (?:\w+ )?(?:is|was|are|were|will|did|does|do|has|"
                         r"have)\b|\bwhat\b", re.IGNORECASE)),
]

# questions that ask for the course of a story, newest first, each sentence dated
# "next" asks what came after, unless it names a time ("early next month": a date) or a thing
# ("the next president")
_NEXT_WORD = (r"(?<!the )(?<!its )(?<!his )(?<!her )(?<!their )(?<!our )next"
              r"(?!\s+(?:week|month|year|season|spring|summer|autumn|fall|winter|weekend|"
              r"decade|century|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
              r"january|february|march|april|may|june|july|august|september|october|"
              r"november|december|generation|round|election|game|match)\b)")
_STORY = re.compile(r"\b(latest|most recent|newest|what happened|what has happened|"
                    r"what is happening|since|so far|update|" + _NEXT_WORD + r"|after that|then|"
                    r"anymore|now|currently|still)\b", re.IGNORECASE)
NEXT = re.compile(r"\b(" + _NEXT_WORD + r"|after that|since then|afterwards|then|later|"
                  r"subsequently|what followed|what came of)\b", re.IGNORECASE)
_PART_SPLIT = re.compile(r"\s*(?:,\s*and|;\s*and|;|\?\s+and|,?\s+and\s+(?=(?:who|what|when|"
                         r"where|why|how|which)\b))\s*", re.IGNORECASE)
_FOCUS = re.compile(r"\b(?:which|what)\s+((?:[a-z]+\s+){0,2}?[a-z]+?)\s+(?:is|was|are|were|"
                    r"will|did|does|do|has|have|had|can|could|would|should)\b", re.IGNORECASE)


# what a quantity question counts or measures: "how many drivers", "what was the magnitude"
_MEASURE = re.compile(r"\bhow many ([a-z]+)|\bwhat (?:was|is|were|will be|will) the "
                      r"(?:[\w-]+ ){0,3}?(magnitude|population|temperature|height|speed|salary|"
                      r"valuation|margin|distance|weight|length|tally)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Question:
    text: str
    kind: str
    terms: tuple[str, ...]  # content words, in order
    story: bool = False  # asks for a story's course: newest first, dated
    next: bool = False  # asks what came after an earlier turn's news
    focus: str = ""  # the noun of "which X" / "what X"
    acronym: str = ""  # the letters of "what does X stand for"
    context: frozenset[str] = frozenset()  # terms only of the statements before the asking


_QUOTED = re.compile(r"“[^”]{0,300}”|\"[^\"]{0,300}\"")


def quoted(text: str) -> list[str]:
    """The words a question quotes (someone's, not the reader's asking), without the marks."""
    return [m.group()[1:-1] for m in _QUOTED.finditer(text)]
_STATEMENT_END = re.compile(r"(?<=[.!])\s+(?=[A-Z“\"‘'])")
_ASKING = re.compile(r"\b(who|whom|whose|what|when|where|why|how|which)\b|[?:]\s*$",
                     re.IGNORECASE)


def asking_sentence(text: str) -> tuple[str, str]:
    """(the statements that set the scene, the sentence that asks): "Microsoft retired its
    Internet Explorer browser this week. What year did it debut?" asks about the debut, and
    its first sentence is context. One sentence: ("", text)."""
    pieces = _STATEMENT_END.split(text.strip())
    if len(pieces) < 2 or not _ASKING.search(pieces[-1]):
        return "", text
    return " ".join(pieces[:-1]), pieces[-1]


_RELATIVE = re.compile(r"(?:which|who|whom|whose|where|when)\b", re.IGNORECASE)


def _asking_match(rule: re.Pattern, text: str) -> re.Match | None:
    """The rule's first match that asks: "Independence Day, which marks the date ... in which
    year?" asks for a year; the "which" after the comma opens a relative clause. When every
    match is such a clause, the first one."""
    first = None
    for m in rule.finditer(text):
        if _fill_in_relative(text, m):
            continue  # not even the fallback: the statement's ending is asked for
        first = first or m
        if not (_RELATIVE.match(m.group()) and re.search(r",\s*$", text[:m.start()])):
            return m
    return first


_PREPOSITION = re.compile(r"\b(?:for|to|of|by|with|from|at|in|on|about|against|over|under|"
                          r"after|before|than|and|or|but)\s*$", re.IGNORECASE)


def _fill_in_relative(text: str, m: re.Match) -> bool:
    """A statement to complete ("... was started by a man who was trying to:") asks for its
    ending: a who/which there opens a relative clause after a noun, unless a preposition
    leads it in ("paving the way for who to advance")."""
    return (bool(_RELATIVE.match(m.group())) and text.rstrip().endswith(":") and m.start() > 0
            and not _PREPOSITION.search(text[:m.start()]))


def kind_of(text: str) -> tuple[str, re.Match | None]:
    """The kind the question's first asking phrase names ("What was the vote when ..." asks
    for an outcome, not a date); rules earlier in the list win a tie."""
    found = [(m.start(), i, kind, m) for i, (kind, rule) in enumerate(_RULES)
             if (m := _asking_match(rule, text))]
    if not found:
        return "other", None
    _, _, kind, m = min(found, key=lambda f: (f[0], f[1]))
    return kind, m


# "how long", "how much": the asking words, not what the question is about
_CUE = re.compile(r"\bhow (much|many|long|far|old|big|large|high|tall|deep|fast|often|heavy)\b",
                  re.IGNORECASE)


# "what date", "which year": the asking words of a when-question
_WHEN_CUE = re.compile(r"\b(?:what|which)\s+(date|day|year|time|month)\b", re.IGNORECASE)


def question_terms(text: str, kind: str) -> tuple[str, ...]:
    """The question's content words, in order: without the words that only ask ("how *long*",
    "on what *date*"), with "last" when it is the verb asked about ("How long did the strike
    last?")."""
    terms = list(dict.fromkeys(content_words(text)))
    cue = {"quantity": _CUE, "when": _WHEN_CUE}.get(kind)
    if cue is not None:
        cues = {m.group(1).lower() for m in cue.finditer(text)}
        rest = [t for t in terms if t not in cues]
        terms = rest or terms
    if re.search(r"\blast\s*\?\s*$", text, re.IGNORECASE) and "last" not in terms:
        terms.append("last")
    return tuple(terms)


def analyse(text: str) -> Question:
    context, asking = asking_sentence(text)
    kind, m = kind_of(asking) if context else kind_of(text)
    if kind == "other" and context:
        kind, m = kind_of(text)
    acronym = ""
    if kind == "acronym" and m is not None:
        acronym = (m.group("acro") or m.group("acro2") or "").replace(".", "")
    focus = ""
    own = asking if context else text
    # words quoted in the question are someone's, not the reader's asking: Bill Nye's "so close
    # to what's happening right now" does not ask for the latest
    unquoted = _QUOTED.sub(" ", own)
    if kind == "which" and (f := _FOCUS.search(own)) or kind == "quantity" and (
            f := _MEASURE.search(own)):
        focus = (f.group(f.lastindex or 1) or "").lower()
    terms = question_terms(text, kind)
    asked = set(question_terms(asking, kind)) if context else set(terms)
    return Question(
        text=text, kind=kind, terms=terms, context=frozenset(t for t in terms if t not in asked),
        # the asking sentence says whether a story's course is asked for ("Nearly two years
        # since the pandemic began, a new variant has arrived. What is it called?" is not)
        story=bool(_STORY.search(unquoted)) and kind in ("event", "other", "outcome", "which"),
        next=bool(NEXT.search(unquoted)), focus=focus, acronym=acronym,
    )


def parts(text: str) -> list[str]:
    """A question in two parts ("how long did it last, and what did X cost?") -> its parts;
    one question -> [text]. A part must ask something on its own."""
    pieces = [p.strip(" ,;?") for p in _PART_SPLIT.split(text) if p and p.strip(" ,;?")]
    asking = [p for p in pieces if re.match(r"(who|whom|whose|what|when|where|why|how|which|"
                                            r"did|does|is|are|was|were)\b", p, re.IGNORECASE)]
    if len(pieces) < 2 or len(asking) < 2 or len(asking) != len(pieces):
        return [text]
    if any(len(content_words(p)) < 2 for p in pieces):  # "..., and when?" is one question
        return [text]
    return [p + "?" for p in pieces]
