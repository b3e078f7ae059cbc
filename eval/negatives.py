"""Hard negatives: a true claim with one fact changed so that its own passage no longer
supports it. The support judge learns from them (eval/train_support.py) and `newsrag eval`'s
judge check measures it on them, kind by kind:

- number: a number changed to one the passage lacks;
- date: a month, weekday or year moved to another event of the passage (another date it gives,
  or the article's own date: the dateline's month), or to one it lacks when it gives none;
- name: a name swapped for another name of the passage (or, when it has none, an invented one);
- swap: two names of the claim swapped (who did what to whom);
- negation: a negation added or removed;
- stance: a word of stance or outcome replaced by its opposite (won/lost, approved/rejected ...);
- quantifier: a claim made absolute ("unanimously", "all").
"""
from __future__ import annotations

import random
import re
from collections.abc import Sequence
from datetime import date

from rag.support_features import OPPOSITES
from rag.text import STOPWORDS

KINDS = ("number", "date", "name", "swap", "negation", "stance", "quantifier")

_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?![\w])")
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z][\w'’\-]*(?:\s+[A-Z][a-z][\w'’\-]*)*")
_AUX = re.compile(r"\b(is|are|was|were|will|would|has|have|had|can|could|should|did|does|do)\b")
_NOT = re.compile(r"\s+not\b|n['’]t\b")
_COMMON = frozenset(MONTH_NAMES + DAY_NAMES + ("The", "A", "An", "In", "On", "It", "This"))
_YEAR = re.compile(r"\b(19|20)\d\d\b")
_WEAK_QUANTIFIER = re.compile(r"\b(some|many|several|most|a few|a majority of)\b", re.IGNORECASE)
_VOTE = re.compile(r"\b(voted|approved|agreed|decided|passed|backed|endorsed|elected|"
                   r"ruled|rejected|confirmed)\b")
_PAST = re.compile(r"(?<=[a-z] )([a-z]{3,}ed)\b")


def names_in(text: str) -> list[str]:
    """Capitalised names (several words kept together), not sentence openers or dates."""
    return [m.group() for m in _NAME.finditer(text) if m.group() not in _COMMON]


def hard_negatives(claim: str, passage: str, rng: random.Random,
                   names_pool: Sequence[str] = (), published: str | None = None,
                   kinds: Sequence[str] = KINDS) -> list[tuple[str, str]]:
    """(kind, changed claim) for each kind that applies to this claim: at most one of each.
    Only changes that make the claim false against this passage are made."""
    makers = {"number": _number, "date": _date, "name": _name, "swap": _swap,
              "negation": _negation, "stance": _stance, "quantifier": _quantifier}
    out = []
    for kind in kinds:
        changed = makers[kind](claim, passage, rng, names_pool, published)
        if changed and changed != claim:
            out.append((kind, changed))
    return out


def _number(claim, passage, rng, pool, published):
    nums = [m for m in _NUMBER.finditer(claim) if not _YEAR.fullmatch(m.group())]
    if not nums:
        return None
    m = rng.choice(nums)
    for _ in range(20):
        new = changed_number(m.group(), rng)
        if new.replace(",", "") not in passage.replace(",", ""):
            return claim[: m.start()] + new + claim[m.end():]
    return None


def _date(claim, passage, rng, pool, published):
    """Another date of the passage (an event it dates otherwise), or the dateline's."""
    dateline = _dateline_words(published)
    for group in (MONTH_NAMES, DAY_NAMES):
        said = [d for d in group if re.search(rf"\b{d}\b", claim)]
        if not said:
            continue
        d = rng.choice(said)
        elsewhere = [x for x in group if x != d and re.search(rf"\b{x}\b", passage)
                     and not re.search(rf"\b{x}\b", claim)]
        elsewhere += [x for x in dateline if x in group and x != d and x not in elsewhere
                      and not re.search(rf"\b{x}\b", claim)]
        if not elsewhere:
            elsewhere = [x for x in group if x != d and not re.search(rf"\b{x}\b", passage)]
        if elsewhere:
            return re.sub(rf"\b{d}\b", rng.choice(elsewhere), claim, count=1)
    years = list(_YEAR.finditer(claim))
    if years:
        m = rng.choice(years)
        others = sorted({y.group() for y in _YEAR.finditer(passage)} - {m.group()})
        if others:
            return claim[: m.start()] + rng.choice(others) + claim[m.end():]
        for delta in rng.sample([-3, -2, -1, 1, 2, 3], 6):
            new = str(int(m.group()) + delta)
            if new not in passage:
                return claim[: m.start()] + new + claim[m.end():]
    return None


def _dateline_words(published: str | None) -> list[str]:
    if not published:
        return []
    try:
        d = date.fromisoformat(published[:10])
    except ValueError:
        return []
    return [MONTH_NAMES[d.month - 1], DAY_NAMES[d.weekday()]]


def _name(claim, passage, rng, pool, published):
    low = passage.lower()
    mine = [n for n in dict.fromkeys(names_in(claim)) if n.lower() in low]
    if not mine:
        return None
    n = rng.choice(mine)
    words_of_claim = set(claim.split())
    theirs = [x for x in dict.fromkeys(names_in(passage))
              if x.lower() not in claim.lower() and not set(x.split()) & words_of_claim
              and _proper(x)]
    alike = [x for x in theirs if len(x.split()) == len(n.split())]
    theirs = alike or theirs
    if not theirs:
        theirs = [x for x in pool if x.lower() not in low and x not in claim]
    if not theirs:
        return None
    return claim.replace(n, rng.choice(theirs), 1)


def _proper(name: str) -> bool:
    """A name to put in another's place: not an abbreviated month, a hyphenated common word
    ("Sign-up") or a plural of a group ("Democrats")."""
    low = name.lower()
    if low in STOPWORDS or low.split()[0] in STOPWORDS:
        return False  # "What", "These", "Your Vote": a capital at a clause's start
    return (len(name) >= 4 and low.rstrip(".") not in _MONTH_ABBR and "-" not in name
            and not (len(name.split()) == 1 and low.endswith("s")))


_MONTH_ABBR = frozenset({m[:3].lower() for m in MONTH_NAMES} | {"sept"})


def _swap(claim, passage, rng, pool, published):
    low = passage.lower()
    mine = [n for n in dict.fromkeys(names_in(claim)) if n.lower() in low and _proper(n)]
    if len(mine) < 2:
        return None
    a, b = mine[0], mine[1]
    if a in b or b in a or claim.find(a + " & " + b) >= 0 or claim.find(a + " and " + b) >= 0:
        return None  # "Abercrombie & Fitch", "Ireland and Scotland": the same either way
    return claim.replace(a, "\0").replace(b, a).replace("\0", b)


def _negation(claim, passage, rng, pool, published):
    if _NOT.search(claim):
        return _NOT.sub("", claim, count=1)
    if m := _AUX.search(claim):
        return claim[: m.end()] + " not" + claim[m.end():]
    return "It is not true that " + claim[0].lower() + claim[1:]


def _stance(claim, passage, rng, pool, published):
    hits = [m for m in re.finditer(r"[A-Za-z]+", claim) if m.group().lower() in OPPOSITES]
    if not hits:
        return None
    m = rng.choice(hits)
    new = rng.choice(sorted(OPPOSITES[m.group().lower()]))
    if m.group()[0].isupper():
        new = new.capitalize()
    return claim[: m.start()] + new + claim[m.end():]


def _quantifier(claim, passage, rng, pool, published):
    low = passage.lower()
    if (m := _WEAK_QUANTIFIER.search(claim)) and "all" not in low.split():
        word = "All" if m.group()[0].isupper() else "all"
        return claim[: m.start()] + word + claim[m.end():]
    if "unanimous" in low:
        return None
    if m := _VOTE.search(claim):
        return claim[: m.start()] + "unanimously " + claim[m.start():]
    if m := _PAST.search(claim):
        return claim[: m.start()] + "unanimously " + claim[m.start():]
    if (m := _AUX.search(claim)) and "always" not in low:
        return claim[: m.end()] + " always" + claim[m.end():]
    return None


def changed_number(text: str, rng: random.Random) -> str:
    """Another plausible value written the same way: 14.2 -> 41.2 or 15.2, 1,850 -> 1,950."""
    digits = [i for i, ch in enumerate(text) if ch.isdigit()]
    chars = list(text)
    if len(digits) >= 2 and rng.random() < 0.5:
        i, j = digits[0], digits[1]
        if chars[i] != chars[j]:
            chars[i], chars[j] = chars[j], chars[i]
            return "".join(chars)
    i = rng.choice(digits)
    d = int(chars[i])
    chars[i] = str((d + rng.randint(1, 8)) % 10) if i != digits[0] else str(rng.randint(1, 9))
    if "".join(chars) == text:
        chars[i] = str((d + 1) % 10 or 1)
    return "".join(chars)
