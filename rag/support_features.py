"""What the support judge reads of a (claim, passage) pair: the fact rules of rag/facts.py as
counts, how much of the claim the passage's best sentence covers, and whether each of the claim's
anchors (a number, a date, a name) sits in the passage beside the same words as in the claim,
or beside another event. rag/support_model.py scores these; eval/train_support.py learns how.

Every feature is a number; `SUPPORT_FEATURES` names them in the model file's order.
"""
from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.facts import (
    _TOKEN,
    MONTHS,
    WEEKDAYS,
    _name_in,
    _order_conflicts,
    dates,
    names,
    negations,
    numbers,
    published_words,
    quantifiers,
)
from rag.text import STOPWORDS, sentence_spans, stem, stems

# Verbs and words of stance or outcome and their opposites: a claim that says one where its
# passage says the other reverses what the passage reports. Small and hand-made (no antonym
# resource installs offline); each pair is read both ways, tests/rag/test_support_judge.py pins
# them. Inflected forms are listed as written in news.
_OPPOSITE_PAIRS = (
    ("won", "lost"), ("win", "lose"), ("wins", "loses"), ("winning", "losing"),
    ("winner", "loser"), ("victory", "defeat"),
    ("approved", "rejected"), ("approve", "reject"), ("approves", "rejects"),
    ("accepted", "rejected"), ("accept", "reject"), ("accepts", "rejects"),
    ("rose", "fell"), ("rise", "fall"), ("rises", "falls"), ("risen", "fallen"),
    ("increased", "decreased"), ("increase", "decrease"), ("increases", "decreases"),
    ("supported", "opposed"), ("support", "oppose"), ("supports", "opposes"),
    ("backed", "opposed"), ("endorsed", "opposed"), ("favor", "oppose"),
    ("praised", "criticized"), ("praised", "criticised"), ("praise", "criticize"),
    ("arrested", "released"), ("convicted", "acquitted"), ("guilty", "innocent"),
    ("passed", "failed"), ("upheld", "overturned"), ("confirmed", "denied"),
    ("raised", "lowered"), ("raise", "lower"), ("higher", "lower"), ("gained", "lost"),
    ("allowed", "banned"), ("allow", "ban"), ("lifted", "imposed"), ("legalized", "banned"),
    ("agreed", "refused"), ("joined", "left"), ("opened", "closed"), ("hired", "fired"),
    ("signed", "vetoed"), ("survived", "died"), ("expanded", "reduced"),
    ("strengthened", "weakened"), ("largest", "smallest"), ("highest", "lowest"),
    ("biggest", "smallest"), ("best", "worst"), ("first", "last"), ("before", "after"),
    ("more", "fewer"), ("surplus", "deficit"), ("gains", "losses"), ("boosted", "cut"),
    ("for", "against"), ("championed", "opposed"), ("welcomed", "condemned"),
)
OPPOSITES: dict[str, frozenset[str]] = {}
for _a, _b in _OPPOSITE_PAIRS:
    OPPOSITES[_a] = OPPOSITES.get(_a, frozenset()) | {_b}
    OPPOSITES[_b] = OPPOSITES.get(_b, frozenset()) | {_a}
# the same by stem, so that "rejected" meets "accept" and "accepting"
_OPPOSITE_STEMS: dict[str, frozenset[str]] = {}
for _w, _others in OPPOSITES.items():
    _OPPOSITE_STEMS[stem(_w)] = _OPPOSITE_STEMS.get(stem(_w), frozenset()) | {
        stem(o) for o in _others}

# The rules a reason comes from (its first words): the judge's model file names those that
# refuse a claim whatever the model says (they fire on almost no true pair of the training data)
RULES = ("number", "unit", "date", "date_competes", "date_elsewhere", "name", "name_invented",
         "name_elsewhere", "name_replaced", "number_elsewhere", "negation", "negation_of",
         "quantifier", "order", "roles", "stance")

# a claim with at least this share of its words in the order of the passage's best sentence is
# a copy of it: one name put in the place of another there is a wrong name (against the best
# window it fired on 1.7% of the fit weeks' true pairs at 0.7, 3.9% at 0.6; against the best
# sentence on 0.4% at 0.7: eval/train_support.py vetoes it after the threshold, LATE_VETOES)
_NEAR_COPY = 0.7


def rule_of(reason: str) -> str:
    """The rule behind a reason ("date november (the passage gives another)" -> "date_competes")."""
    if "belongs to another part" in reason:
        return reason.split()[0] + "_elsewhere"
    if reason.startswith("date") and "gives another" in reason:
        return "date_competes"
    if reason.startswith("unit of"):
        return "unit"
    return reason.split()[0]

SUPPORT_FEATURES = (
    "containment",  # share of the claim's content stems anywhere in the passage (+ headline, date)
    "containment_window",  # ... in the best sentence or pair of sentences
    "containment_single",  # ... in the best single sentence
    "unmatched_window",  # claim stems the best window lacks
    "claim_stems",
    "numbers_missing",  # rule: a number of the claim the passage lacks
    "units_mismatch",  # rule: a number with another unit
    "dates_missing",  # rule: a month, weekday or day of month the passage lacks
    "names_missing",  # rule: a name the passage lacks
    "names_missing_share",
    "claim_names",
    "negation_added",  # rule: the claim denies, its window does not
    "negation_dropped",  # rule: the window denies, the claim does not
    "quantifiers_missing",  # rule: "all", "unanimously" ... the passage lacks
    "order_conflict",  # rule: two names in the other order (who did what to whom)
    "anchors",  # numbers, dates and names of the claim found in the passage
    "names_outside_window",  # names of the claim the passage has, but not in its best window
    "dates_outside_window",
    "numbers_outside_window",
    "window_names_unused",  # names of the best window the claim does not use
    "dateline_month_only",  # a month of the claim only in the article's date, not its text
    "dateline_weekday_only",  # a weekday of the claim only in the article's date
    "date_competes",  # a date of the claim the text lacks where it names another of the kind
    "binding_min",  # the least agreement of an anchor's neighbouring words, claim vs passage
    "binding_mean",
    "binding_sides_min",  # the same, the words before an anchor with those before it, after
    "name_binding_min",  # binding_min of the names alone
    "date_binding_min",
    "number_binding_min",
    "order_conflict_any",  # two names in the other order at every mention in the window
    "negation_flipped",  # a word one side denies and the other affirms
    "names_invented",  # names of the claim none of whose words the passage has
    "roles_swapped",  # "A <verb> B" in the claim, "B <verb> A" in the window
    "opposite_in_window",  # a claim word whose opposite the window says (and not the word)
    "opposite_in_passage",
    "window_sentences",  # 1 or 2
)

_NEAR_CLAIM, _NEAR_PASSAGE = 5, 10  # words either side of an anchor read as its context


@dataclass(frozen=True)
class Reading:
    """The features of one pair and what explains them (for a rejection's reason)."""
    values: np.ndarray
    reasons: tuple[str, ...]  # the fact rules' findings, and the anchors bound elsewhere
    window: tuple[int, int]  # the passage offsets of the best window
    single: tuple[int, int]


def _tokens(text: str) -> list[str]:
    return [t.lower().replace(".", "") for t in _TOKEN.findall(text)]


def _context(tokens: Sequence[str], at: int, near: int, skip: set[str]) -> set[str]:
    lo, hi = max(0, at - near), min(len(tokens), at + near + 1)
    return {stem(t) for t in tokens[lo:hi]
            if t not in STOPWORDS and t not in skip and len(t) > 1}


def _side(tokens: Sequence[str], at: int, near: int, after: bool, skip: set[str]) -> set[str]:
    part = tokens[at + 1:at + 1 + near] if after else tokens[max(0, at - near):at]
    return {stem(t) for t in part if t not in STOPWORDS and t not in skip and len(t) > 1}


def _sides(c_tokens: Sequence[str], at_c: int, p_tokens: Sequence[str], at_p: Sequence[int],
           skip: set[str]) -> float:
    """How far the words before and after an anchor in the claim are before and after it in
    the passage (its best occurrence): "A beat B" against "B beat A" agrees on neither side."""
    before = _side(c_tokens, at_c, 3, False, skip)
    after = _side(c_tokens, at_c, 3, True, skip)
    if not before and not after:
        return 1.0
    return max((len(before & _side(p_tokens, i, 5, False, skip))
                + len(after & _side(p_tokens, i, 5, True, skip))) / (len(before) + len(after))
               for i in at_p)


_DENIAL = re.compile(r"(?:\bnot|\bnever|\bno longer|n['’]t)\s+(?:\w+\s+){0,1}?(\w{3,})",
                     re.IGNORECASE)


_PHRASE = re.compile(r"[A-Z][\w'’\-.]*(?:\s+(?:[A-Z][\w'’\-.]*|of|de|van|von|al|bin))*")


def _name_phrases(claim: str, claim_names: set[str]) -> list[tuple[str, ...]]:
    """The claim's names as phrases of name words ("Brendan Hollow" -> ("brendan", "hollow"))."""
    out = []
    for m in _PHRASE.finditer(claim):
        words = tuple(w for w in (t.lower().replace(".", "").removesuffix("'s").removesuffix("’s")
                                  for t in m.group().split()) if w in claim_names)
        if words:
            out.append(words)
    return out


def _denied(text: str) -> set[str]:
    """Stems of the words a sentence denies: "did not attend" -> {"attend"}, "hasn't risen"."""
    out = set()
    for m in _DENIAL.finditer(text):
        word = m.group(1).lower()
        if word in ("been", "yet", "the", "any", "only", "have", "has", "had", "be", "was"):
            continue
        out.add(stem(word))
    return out


def _roles_swapped(claim: str, sentences: Sequence[str]) -> list[tuple[str, str, str]]:
    """(a, b, word) where the claim has name a, then a lower-case word, then name b, and the
    passage's sentences naming both have b, that word, a, but never a, the word, b: who did
    what to whom, reversed ("Norrsten beat Brandvik" against "Brandvik beat Norrsten")."""
    c_raw = _TOKEN.findall(claim)
    c_tok = [t.lower().replace(".", "") for t in c_raw]
    claim_names = list(dict.fromkeys(names(claim)))
    out = []
    for i, a in enumerate(claim_names):
        for b in claim_names[i + 1:]:
            ia, ib = _positions(c_tok, a), _positions(c_tok, b)
            if not ia or not ib or ia[0] > ib[0]:
                continue
            middle = {stem(t) for t, raw in zip(c_tok[ia[0] + 1:ib[0]], c_raw[ia[0] + 1:ib[0]])
                      if t not in STOPWORDS and len(t) > 2 and raw.islower()}
            if not middle:
                continue
            flipped, kept = set(), set()
            for sentence in sentences:
                w_tok = _tokens(sentence)
                wa, wb = _positions(w_tok, a), _positions(w_tok, b)
                if wa and wb:
                    # "a law signed by Landry" says what "Landry signed a law" says
                    passive = [j for j in wa if "by" in w_tok[max(0, j - 4):j]]
                    flipped |= _between(w_tok, wb, [j for j in wa if j not in passive]) & middle
                    kept |= (_between(w_tok, wa, wb) | _between(w_tok, wb, passive)) & middle
            if flipped and not kept:
                out.append((a, b, min(flipped)))
    return out


def _names_replaced(claim: str, sentence: str, window: str) -> list[tuple[str, str]]:
    """(claim's name, the sentence's) where the claim copies the passage's best sentence but for
    a capitalised word standing where the sentence has another ("Mexico engineers reworked" for
    "SpaceX engineers reworked"): not an inflection ("Olympics" / "Olympic", "People's" /
    "People"), a date, a word of the sentence or one the window writes in lower case ("Best
    Picture" against "best picture")."""
    c_raw, w_raw = _TOKEN.findall(claim), _TOKEN.findall(sentence)
    c_tok = [re.sub(r"['’]s$", "", t.lower().replace(".", "")) for t in c_raw]
    w_tok = [re.sub(r"['’]s$", "", t.lower().replace(".", "")) for t in w_raw]
    ops = difflib.SequenceMatcher(None, c_tok, w_tok, autojunk=False).get_opcodes()
    if sum(i2 - i1 for op, i1, i2, _, _ in ops if op == "equal") < _NEAR_COPY * len(c_tok):
        return []
    common = {t.lower() for t in _TOKEN.findall(window) if t.islower()}
    here = set(w_tok) | {stem(t) for t in w_tok} | common | {stem(t) for t in common}

    def named(raw: Sequence[str], tok: Sequence[str], at: range, first_ok: bool) -> list[int]:
        return [i for i in at if raw[i][:1].isupper() and (first_ok or i > 0)
                and tok[i] not in STOPWORDS and tok[i] not in MONTHS and tok[i] not in WEEKDAYS]

    out = []
    for op, i1, i2, j1, j2 in ops:
        if op != "replace":
            continue
        mine = [c_raw[i] for i in named(c_raw, c_tok, range(i1, i2), False)
                if c_tok[i] not in here and stem(c_tok[i]) not in here]
        theirs = [w_raw[j] for j in named(w_raw, w_tok, range(j1, j2), True)
                  if w_tok[j] not in c_tok]
        if mine and theirs:
            out.append((mine[0], " ".join(theirs)))
    return out


def _between(tokens: Sequence[str], firsts: Sequence[int], lasts: Sequence[int]) -> set[str]:
    """Stems of the words between any mention in `firsts` and a later one in `lasts`."""
    return {stem(t) for p in firsts for q in lasts if p < q for t in tokens[p + 1:q]}


def _out_of_order_everywhere(claim_names: Sequence[str], window_names: Sequence[str]) -> bool:
    """Two names the claim and its window share, in the claim's order, where no mention of the
    first comes before any mention of the second in the window ("A beat B" against "B beat A")."""
    shared = [n for n in dict.fromkeys(claim_names) if n in window_names]
    for a, b in itertools.pairwise(shared):
        first_a = window_names.index(a)
        last_b = len(window_names) - 1 - window_names[::-1].index(b)
        if first_a > last_b:
            return True
    return False


def _anchors(claim: str) -> list[tuple[str, str]]:
    """(kind, token) of the claim's numbers, month and weekday words and names."""
    out = [("number", v.split(" ")[0]) for v, _ in numbers(claim)]
    low = _tokens(claim)
    out += [("date", t) for t in dict.fromkeys(low) if t in MONTHS or t in WEEKDAYS]
    out += [("date", t) for t in dict.fromkeys(low) if re.fullmatch(r"(19|20)\d\d", t)]
    out += [("name", n) for n in dict.fromkeys(names(claim))]
    return list(dict.fromkeys(out))


_YEARS = frozenset(str(y) for y in range(1900, 2100))


def _date_kind(token: str) -> frozenset[str]:
    """The words of a date's own kind: months for a month, weekdays for a weekday, years."""
    if token in MONTHS:
        return frozenset(MONTHS)
    if token in WEEKDAYS:
        return frozenset(WEEKDAYS)
    return _YEARS


def _positions(tokens: Sequence[str], token: str) -> list[int]:
    if token.isdigit():
        return [i for i, t in enumerate(tokens) if t.replace(",", "") == token]
    return [i for i, t in enumerate(tokens) if t == token or t.rstrip("'’s") == token]


def best_window(claim: str, passage: str) -> tuple[tuple[int, int], tuple[int, int], float, float]:
    """The passage's sentence or pair of sentences covering most of the claim (the shortest
    among equals), the best single sentence, and the share of claim stems each covers."""
    claim_stems = stems(claim)
    spans = sentence_spans(passage) or [(0, len(passage))]
    windows = list(spans) + [(spans[i][0], spans[i + 1][1]) for i in range(len(spans) - 1)]
    n = max(len(claim_stems), 1)
    covered = [(len(claim_stems & stems(passage[a:b])) / n, -(b - a), (a, b)) for a, b in windows]
    best = max(covered)
    single = max(covered[: len(spans)])
    return best[2], single[2], best[0], single[0]


def read(claim: str, passage: str, *, published: str | None = None, title: str = "") -> Reading:
    """The features of (claim, passage) in SUPPORT_FEATURES order, with the rules' findings."""
    window, single, cover_w, cover_s = best_window(claim, passage)
    w_text, s_text = passage[window[0]:window[1]], passage[single[0]:single[1]]
    dateline = f"{published_words(published)} {(published or '')[:10]}"
    context = f"{title}\n{passage}\n{dateline}"
    claim_stems = stems(claim)
    all_stems = stems(passage) | stems(title) | stems(dateline)
    reasons: list[str] = []

    have: dict[str, set[str | None]] = {}
    for v, u in numbers(context):
        have.setdefault(v, set()).add(u)
        have.setdefault(v.split(" ")[0], set()).add(u)
    n_missing = n_units = 0
    for v, u in numbers(claim):
        units = have.get(v)
        if units is None:
            n_missing += 1
            reasons.append(f"number {v}")
        elif u is not None and None not in units and u not in units:
            n_units += 1
            reasons.append(f"unit of {v}")
    missing_dates = sorted(dates(claim) - dates(context))
    reasons += [f"date {d}" for d in missing_dates]
    words_here = {t for t in _tokens(context)}
    words_here |= {w.rstrip("s") for w in words_here}
    claim_names = list(dict.fromkeys(names(claim)))
    absent = [n for n in claim_names if not _name_in(n, words_here, context)]
    # a name none of whose words the passage has ("Brendan Hollow"), not a first name or title
    # added to one it has ("Luigi Mangione" for "Mangione")
    invented = [ph for ph in _name_phrases(claim, set(claim_names))
                if all(w in absent for w in ph)]
    reasons += [f"name_invented {' '.join(ph)}" for ph in invented]
    reasons += [f"name {n}" for n in absent if not any(n in ph for ph in invented)]
    neg_claim, neg_window, neg_single = negations(claim), negations(w_text), negations(s_text)
    negation_added = float(bool(neg_claim) and not neg_window)
    negation_dropped = float(not neg_claim and bool(neg_single))
    # the precise case: the very word one side denies, the other affirms ("did not attend" /
    # "attended")
    denied_w, denied_c = _denied(w_text), _denied(claim)
    claim_all = {stem(t) for t in _tokens(claim)}
    flipped = sorted((denied_w & claim_all) - denied_c if not neg_claim else set()) + sorted(
        (denied_c & {stem(t) for t in _tokens(w_text)}) - denied_w if not neg_window else set())
    if flipped:
        reasons.append(f"negation_of {flipped[0]}")
    elif negation_added or negation_dropped:
        reasons.append("negation")
    q_missing = sorted(quantifiers(claim) - quantifiers(context))
    reasons += [f"quantifier {q}" for q in q_missing]
    order = _order_conflicts(tuple(names(claim)), names(w_text))
    reasons += order
    # in every sentence of the passage naming both, never in the claim's order
    both = [passage[a:b] for a, b in sentence_spans(passage)]
    swapped = _roles_swapped(claim, both)
    reasons += [f"roles of {a} and {b} (the passage: {b} {v} {a})" for a, b, v in swapped[:1]]
    reasons += [f"name_replaced {a} (the passage: {b})" for a, b in _names_replaced(claim, s_text, w_text)]

    # anchors: where in the passage each of the claim's facts is stated, and beside what
    c_tokens, p_tokens = _tokens(claim), _tokens(passage)
    w_tokens = set(_tokens(w_text))
    anchors = _anchors(claim)
    anchor_tokens = {t for _, t in anchors}
    found = month_only = weekday_only = competes = 0
    outside: dict[str, int] = {"name": 0, "date": 0, "number": 0}
    bindings: list[float] = []
    sides: list[float] = []
    by_kind: dict[str, list[float]] = {"name": [], "date": [], "number": []}
    p_set = set(p_tokens)
    for kind, token in anchors:
        at_p = _positions(p_tokens, token)
        if not at_p:
            if kind == "date":
                same = _date_kind(token)
                if p_set & same - {token}:
                    competes += 1
                    reasons.append(f"date {token} (the passage gives another)")
                if token in _tokens(dateline):
                    if token in MONTHS:
                        month_only += 1
                    else:
                        weekday_only += 1
                    bindings.append(0.0)
            continue
        found += 1
        if token not in w_tokens:
            outside[kind] += 1
        at_c = _positions(c_tokens, token)
        if at_c:
            sides.append(_sides(c_tokens, at_c[0], p_tokens, at_p, anchor_tokens))
        mine = set().union(*(_context(c_tokens, i, _NEAR_CLAIM, anchor_tokens) for i in at_c)) \
            if at_c else set()
        if not mine:
            continue
        agree = max(len(mine & _context(p_tokens, i, _NEAR_PASSAGE, anchor_tokens)) / len(mine)
                    for i in at_p)
        bindings.append(agree)
        by_kind[kind].append(agree)
        if agree == 0.0 and token not in w_tokens:
            reasons.append(f"{kind} {token} belongs to another part of the passage")

    c_words = set(c_tokens)
    w_set = set(_tokens(w_text))
    w_stems = {stem(t) for t in w_set}
    p_stems = {stem(t) for t in p_set}

    def reversed_in(here: set[str]) -> list[str]:
        return [w for w in sorted(c_words) if stem(w) in _OPPOSITE_STEMS
                and stem(w) not in here and _OPPOSITE_STEMS[stem(w)] & here]

    opp_w, opp_p = reversed_in(w_stems), reversed_in(p_stems)
    for w in opp_w:
        said = sorted(t for t in w_set if stem(t) in _OPPOSITE_STEMS[stem(w)])
        reasons.append(f"stance {w} (the passage: {'/'.join(said)})")

    n_stems = max(len(claim_stems), 1)
    values = np.array([
        len(claim_stems & all_stems) / n_stems,
        cover_w,
        cover_s,
        len(claim_stems - stems(w_text)),
        len(claim_stems),
        n_missing,
        n_units,
        len(missing_dates),
        len(absent),
        len(absent) / max(len(claim_names), 1),
        len(claim_names),
        negation_added,
        negation_dropped,
        len(q_missing),
        float(bool(order)),
        found,
        outside["name"],
        outside["date"],
        outside["number"],
        len(set(names(w_text)) - set(names(claim)) - set(c_tokens)),
        month_only,
        weekday_only,
        competes,
        min(bindings) if bindings else 1.0,
        float(np.mean(bindings)) if bindings else 1.0,
        min(sides) if sides else 1.0,
        min(by_kind["name"], default=1.0),
        min(by_kind["date"], default=1.0),
        min(by_kind["number"], default=1.0),
        float(_out_of_order_everywhere(names(claim), names(w_text))),
        len(flipped),
        len(invented),
        len(swapped),
        len(opp_w),
        len(opp_p),
        1.0 + (window != single),
    ], dtype=np.float64)
    return Reading(values, tuple(dict.fromkeys(reasons)), window, single)
