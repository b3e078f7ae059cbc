"""Does a sentence hold an answer of the kind a question asks for, that the question itself does
not already contain? (A person for "who", a number with its unit for "how much", ...)"""
from __future__ import annotations

import re
from functools import lru_cache

from rag.countries import countries_in
from rag.facts import MONTHS, WEEKDAYS, dates, names, numbers
from rag.question import Question
from rag.text import STOPWORDS, stem, words

_TIME = re.compile(r"\b\d{1,2}(?::\d{2})?\s?(?:a\.m\.|p\.m\.|am\b|pm\b)|\bnoon\b|\bmidnight\b|"
                   r"\b(?:19|20)\d{2}\b|\b(?:yesterday|today|tonight|tomorrow|this week|"
                   r"next week|last week|next month|next year|later this year)\b", re.IGNORECASE)
_CAUSE = re.compile(r"\b(because|due to|owing to|as a result|over "
                    r"(?:\w+\s){0,2}(?:concerns|fears|claims|risks?|problems?|issues?|defects?|"
                    r"worries|safety)|citing|caused by|blamed|the reason|so that|"
                    r"in order to|prompted|led to|triggered|in response to|"
                    r"to protest|to avoid|for failing|driven by|fu?elled by|fueled by|thanks to|"
                    r"in the wake of|as (?:\w+\s){1,4}(?:persists|continues|worsens|grows|rises|"
                    r"spreads|drags on)|with (?:\w+\s){1,3}driving)\b", re.IGNORECASE)
# words that give a cause as often as they only say when ("after", "since", "amid")
_CAUSE_OR_TIME = re.compile(r"\b(after|following|amid|since)\b", re.IGNORECASE)
_OUTCOME = re.compile(r"\b(voted|vote of|\d+\s?(?:to|-|–)\s?\d+|unanimous(?:ly)?|approved|"
                      r"rejected|accepted|ratified|passed|defeated|ended|won|lost|agreed|"
                      r"ruled|decided|backed|endorsed|overturned|upheld|acquitted|convicted|"
                      r"sentenced|settled|reacted|welcomed|condemned|criticised|criticized|"
                      r"praised|called|resigned|signed|returned|resumed|in favour|in favor|"
                      r"against)\b", re.IGNORECASE)
_PLACE_CUE = re.compile(r"\b(?:in|at|near|from|to|across|outside|inside|off)\s+(?:the\s+)?"
                        r"([A-Z][\w'’\-]+(?:\s+[A-Z][\w'’\-]+)*)")
_ASKS_COUNTRY = re.compile(r"\b(?:which|what)\s+(?:[\w-]+\s+)?(?:country|nation)\b",
                           re.IGNORECASE)
_QUANT_UNITS = {
    "share": {"percent"}, "percentage": {"percent"}, "percent": {"percent"},
    "proportion": {"percent"}, "fraction": {"percent"},
    "much": {"dollar", "euro", "pound", "yen", "million", "billion", "percent", "litre", "tonne"},
    "cost": {"dollar", "euro", "pound", "yen", "million", "billion"},
    "price": {"dollar", "euro", "pound", "yen"},
    "long": {"day", "week", "month", "year", "hour", "minute", "second", "km", "mile", "m"},
    "far": {"km", "mile", "m"}, "old": {"year"},
}


@lru_cache(maxsize=256)
def _question_words(q: Question) -> frozenset[str]:
    """The question's words and their stems, and the parts of its hyphenated ones: a question
    about "Covid-19" already holds the "Covid" of a sentence."""
    ws = words(q.text)
    ws += [part for w in ws if "-" in w for part in w.split("-") if part]
    return frozenset({stem(w) for w in ws} | set(ws))


_NOT_FIRST_NAMES = frozenset((
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"))
_LEAD_NAME = re.compile(r"^([A-Z][a-z]+)\s+[A-Z][a-z]+\b")
_LEAD_PLACE = re.compile(r"^([A-Z][a-z]+),\s+(?:where|which|who|the|a|an|home|once|long)\b")


def _opening(pattern: re.Pattern, sentence: str) -> list[str]:
    """The name opening the sentence, where the pattern says one does: `names` skips a
    capitalised word at a sentence's start, since most are not names."""
    m = pattern.match(sentence)
    if not m or m.group(1).lower() in STOPWORDS or m.group(1) in _NOT_FIRST_NAMES:
        return []
    return [m.group(1).lower()]


def _lead_name(sentence: str) -> list[str]:
    """A person's first name opening the sentence ("Tobias Ashgrove, the keeper ..."): without
    it the sentence held one name where a sentence naming a person and some other place held
    two."""
    return _opening(_LEAD_NAME, sentence)


def _lead_place(sentence: str) -> list[str]:
    """A name opening the sentence before an apposition ("Miami, where rents were up 26.2%")."""
    return _opening(_LEAD_PLACE, sentence)


def _new(items, q: Question) -> list[str]:
    seen = _question_words(q)
    return [x for x in items if x not in seen and stem(x) not in seen]


def quantity_wanted(q: Question) -> set[str]:
    """The units a quantity question expects ("what share" -> percent), empty when any."""
    low = q.text.lower()
    if re.search(r"\bhow long (?:is|was|are|were|will (?:\w+\s){1,6}?be|would (?:\w+\s){1,6}?be)\b",
                 low) and not re.search(r"\b(?:last|take|run|go on|stay|remain|wait|strike|"
                                        r"closed|closure|shut|delay)\w*\b", low):
        return {"km", "mile", "m"}  # "How long will the tunnel be?": a length, not a time
    for cue, units in _QUANT_UNITS.items():
        if re.search(rf"\b(how|what) {cue}\b", low) or (cue in ("cost", "price") and cue in low):
            return units
    return set()


def answer_strength(q: Question, sentence: str) -> float:
    """0 (no answer of the asked kind) .. 1 (a clear one), new to the question."""
    rule = _STRENGTH.get(q.kind)
    return rule(q, sentence) if rule else 0.5  # event / other: any informative sentence


def _quantity(q: Question, sentence: str) -> float:
    """A number the question does not hold, with the asked unit (or counting the asked thing)."""
    qnums = {v for v, _ in numbers(q.text)}
    found = [(v, u) for v, u in numbers(sentence) if v not in qnums]
    if not found:
        return 0.0
    wanted = quantity_wanted(q)
    if q.focus:  # "how many drivers": a number that counts drivers
        f = re.escape(stem(q.focus))
        counted = re.search(r"\d[\d,.]*\s+(?:\w+\s+){0,2}?" + f + r"|\b" + f
                            + r"\w*\s+(?:of\s+)?(?:about\s+|nearly\s+)?\d", sentence.lower())
        return 1.0 if counted else 0.6
    if not wanted:
        return 1.0
    if any(u in wanted or (v.split(" ")[-1] in wanted) for v, u in found):
        return 1.0
    low = sentence.lower()
    if "percent" in wanted and "%" in sentence:
        return 1.0
    if "year" in wanted and re.search(r"\baged?\b|year-old", low):
        return 1.0
    return 0.4


_ASKS_YEAR = re.compile(r"\b(?:what|which)\s+year\b", re.IGNORECASE)
_YEAR = re.compile(r"\b(?:1[6-9]|20)\d{2}\b")


def _when(q: Question, sentence: str) -> float:
    if _ASKS_YEAR.search(q.text):  # "what year": a year the question does not hold, not a weekday
        if not set(_YEAR.findall(sentence)) - set(_YEAR.findall(q.text)):
            return 0.0
        return 1.0 if _dated_near_terms(q, sentence) else 0.8
    found = _new(dates(sentence), q)
    times = [m.group().lower() for m in _TIME.finditer(sentence)]
    times = [t for t in times if t not in q.text.lower()]
    if not (found or times):
        return 0.0
    return 1.0 if _dated_near_terms(q, sentence) else 0.8


def _who(q: Question, sentence: str) -> float:
    found = _new(_lead_name(sentence) + names(sentence), q)
    if not found:
        return 0.0
    if len(found) >= 2:
        # a person's name, when the question asks for one, beats names of bodies and places
        return 1.0 if not _asks_person(q) or _new_person(q, sentence) else 0.8
    return 0.6


def _where(q: Question, sentence: str) -> float:
    asked = q.text.lower()
    if _ASKS_COUNTRY.search(q.text):  # the answer is a country the question does not name
        return 1.0 if any(c.lower() not in asked for c in countries_in(sentence)) else 0.2
    places = [m.group(1) for m in _PLACE_CUE.finditer(sentence)]
    found = _new([w.lower() for p in places for w in p.split()], q)
    # a country the question does not name is a place, unless a smaller one is asked for
    smaller = re.search(r"\b(state|city|town|county|province|region|district|neighbou?rhood|"
                        r"park|venue|island|street|village|port)\b", asked)
    if found or (not smaller and any(c.lower() not in asked for c in countries_in(sentence))):
        return 1.0
    return 0.5 if _new(names(sentence), q) else 0.0


_THING = re.compile(r"\b(?i:which|what)\s+((?:[a-z][\w'’-]*\s+){0,2}?[a-z][\w'’-]*?)(?=\s+(?:is|was|"
                    r"are|were|will|would|did|does|do|has|have|had|can|could|should|of|in|on|"
                    r"at|for|to|from|by|with|that|this|[a-z]+ed)\b|\s*[?,.:;]|\s*$)")


def asked_thing(q: Question) -> list[str]:
    """The kind of thing a which/what question names, lowercase: "which national park" ->
    ["national", "park"], "the only to prevent which disease?" -> ["disease"]."""
    return list(_asked_thing(q))


@lru_cache(maxsize=256)
def _asked_thing(q: Question) -> tuple[str, ...]:
    """asked_thing, read once per question (it is asked for every candidate sentence)."""
    if q.kind != "which" or not (m := _THING.search(q.text)):
        return ()
    found = tuple(m.group(1).split())
    if found[0] in STOPWORDS or found[-1] in STOPWORDS:
        return ()
    return found


def names_thing(q: Question, sentence: str) -> bool:
    """The sentence names a thing of the asked kind the question does not (a capitalised word
    before the kind's noun): "Lyme disease" for
    "... prevent which disease?", "Yosemite National Park" for "... in which national park?"."""
    thing = _asked_thing(q)
    if not thing:
        return False
    head = thing[-1][:-1] if thing[-1].endswith("s") and len(thing[-1]) > 3 else thing[-1]
    seen = _question_words(q)
    # capitalised words right before the kind's noun ("Yosemite National Park"), one of them new
    for m in re.finditer(r"((?:\b[A-Z][\w'’.-]*\s+)+)(?i:" + re.escape(head) + r")\w{0,3}\b",
                         sentence):
        for word in m.group(1).split():
            low = word.lower()
            if (not word.isupper() and low not in STOPWORDS and low not in seen
                    and stem(low) not in seen):  # "TV shows" names no show
                return True
    return False


def _which(q: Question, sentence: str) -> float:
    found = _new(_lead_name(sentence) + _lead_place(sentence) + names(sentence), q)
    quoted = re.search(r"[“\"‘][^”\"’]{2,60}[”\"’]", sentence)
    codes = _new([w for w in words(sentence)
                  if re.fullmatch(r"[a-z]*\d+[a-z]+|[a-z]+\d+\w*", w)], q)
    return 1.0 if found or quoted or codes else 0.2


_STRENGTH = {
    "quantity": _quantity, "when": _when, "who": _who, "where": _where, "which": _which,
    "why": lambda q, s: 1.0 if _CAUSE.search(s) else 0.6 if _CAUSE_OR_TIME.search(s) else 0.0,
    "outcome": lambda q, s: 1.0 if _OUTCOME.search(s) else 0.0,
    "acronym": lambda q, s: 1.0 if expansion(q.acronym, s) else 0.0,
}


# "may" left out: far more often the verb
_DATE_WORDS = (*(m for m in MONTHS if m != "may"), *WEEKDAYS, "noon", "midnight",
               r"\d{1,2}(?::\d{2})?\s?(?:a\.m\.|p\.m\.|am|pm)", r"(?:19|20)\d{2}")
_DATE_WORD = re.compile(rf"\b(?:{'|'.join(_DATE_WORDS)})(?!\w)", re.IGNORECASE)


def _dated_near_terms(q: Question, sentence: str, reach: int = 60) -> bool:
    """A date or time within a few words after one of the question's terms: "will reopen at
    6 a.m. on Saturday, December 5" for "When will the bridge reopen?", where "closed since
    June 29 ... will reopen weeks ahead of schedule" dates something else."""
    low = sentence.lower()
    verb = re.search(r"\bwhen (?:will|did|does|do|is|was|are|were|has|have|would|could|can)\b"
                     r".*\b([a-z]{3,})\s*\?\s*$", q.text, re.IGNORECASE)
    # "When will the bridge reopen?": the date of the reopening, not of some other thing
    stems = {stem(verb.group(1).lower())} if verb and verb.group(1).lower() in q.terms else {
        stem(t) for t in q.terms}
    for m in re.finditer(r"[a-z][\w'’-]*", low):
        if stem(m.group()) in stems and _DATE_WORD.search(low[m.end(): m.end() + reach]):
            return True
    return False


_PERSON = re.compile(r"\b([A-Z][a-z]+(?:\s+[A-Z]\.)?\s+[A-Z][a-z][\w'’\-]+)\b")
_BODY_WORDS = frozenset((
    "league", "union", "authority", "association", "company", "council", "ministry",
    "department", "bay", "island", "port", "city", "county", "court", "party", "bank", "group",
    "committee", "commission", "agency", "service", "services", "university", "school", "street",
    "road", "river", "valley", "bridge", "house", "office", "board", "trust", "fund", "club",
    "corporation", "inc", "ltd", "news", "times", "post", "airport", "station", "hall",
    "terminals", "ferries", "transit", "workers", "national", "united", "states", "kingdom",
    "north", "south", "east", "west", "new", "saint", "st", "lake", "mount", "cape"))


def _asks_person(q: Question) -> bool:
    """"Who ...?" and "whom"/"whose" ask for a person unless the question names a body:
    "Which company ...", "Who makes ..." may be answered by an organisation."""
    low = q.text.lower()
    return bool(re.search(r"\bwho(?:m|se)?\b|\bwhich (?:person|man|woman|official|politician|"
                          r"player|leader|minister|executive|actor|singer|star)\b", low))


def _new_person(q: Question, sentence: str) -> bool:
    """The sentence names a person (two capitalised words, none a word of a body or place)
    the question does not."""
    asked = q.text.lower()
    for m in _PERSON.finditer(sentence):
        parts = [w.lower() for w in re.findall(r"[A-Za-z]+", m.group(1))]
        if any(w in _BODY_WORDS or w in STOPWORDS for w in parts):
            continue
        if parts[0].capitalize() in _NOT_FIRST_NAMES or all(w in asked for w in parts):
            continue
        return True
    return False


def expansion(acronym: str, sentence: str) -> str:
    """The words an acronym stands for, when the sentence spells them out:
    "the Port Safety League (PSL)" -> "Port Safety League"."""
    if not acronym or acronym not in sentence:
        return ""
    toks = re.findall(r"[A-Za-z][\w'’\-]*", sentence)
    letters = acronym.lower()
    n = len(letters)
    for i in range(len(toks)):
        # the initials of consecutive capitalised words (small words like "of" may sit between)
        picked, j = [], i
        while j < len(toks) and len(picked) < n:
            w = toks[j]
            if w[0].isupper():
                picked.append(w)
            elif w.lower() not in ("of", "for", "and", "the", "on", "in", "de", "&"):
                break
            j += 1
        if (len(picked) == n and "".join(w[0] for w in picked).lower() == letters
                and toks[i] != acronym):
            return " ".join(toks[i:j])
    return ""
