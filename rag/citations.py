"""Citation checking: every [n] names a given passage, every cited sentence is supported by it."""
from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.facts import published_words
from rag.support_features import best_window, read, rule_of
from rag.support_model import SupportModel, default_model
from rag.text import stems
from rag.types import AnswerSentence, Citation, Passage

log = logging.getLogger(__name__)
MARKER = re.compile(r"\s*\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
# a sentence ends at terminal punctuation (closing quotes and citation markers may follow) when
# the next one starts with a capital, a digit or a quote, or the text ends: "6 a.m. on Saturday"
# is one sentence, and so is "Mr. Okafor said"
# A citation marker after a word ends a sentence too when a capital follows: a quoted sentence
# that has no full stop in its article (a paragraph's end) is still one sentence ("... hitch
# issue [2] Owners of ...")
_END = re.compile(r"(?:[.!?…][\"'”’)\]]*(?:\s*\[\d{1,3}(?:\s*[,;]\s*\d{1,3})*\])*"
                  r"|(?<=[\w%\"'”’)])(?:\s*\[\d{1,3}(?:\s*[,;]\s*\d{1,3})*\])+)"
                  r"(?=\s+[\"'“‘(\[]?[A-Z0-9]|\s*$)")
_ABBREVIATIONS = {"a.m", "p.m", "mr", "mrs", "ms", "dr", "prof", "st", "gen", "gov", "sen", "rep",  # not
                  # "Co." or "Inc.": they often end a sentence
                  "vs", "no", "u.s", "u.k", "u.n", "e.g", "i.e",
                  "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
                  "dec", "jr", "sr", "capt", "lt", "col", "sgt"}


# the article's date an extractive answerer shows with a story's sentence: "On 20 November, "
# (the hand-set one) or "(20 November) " (the learned one)
DATE_LABEL = re.compile(r"^(?:On \d{1,2} [A-Z][a-z]+, |\(\d{1,2} [A-Z][a-z]+(?: \d{4})?\) )")


def _sentences(text: str) -> list[str]:
    """The answer's sentences, each with the markers that follow it."""
    out, cut = [], 0
    for m in _END.finditer(text):
        closed = m.end() > m.start() + 1 and text[m.start() + 1] in "\"'”’)"
        if text[m.start()] == "." and not closed and _abbreviation_before(text, m.start()):
            continue  # "4 a.m. on Monday"; but '... at 4 a.m." Then' ends a sentence
        out.append(text[cut:m.end()])
        cut = m.end()
    out.append(text[cut:])
    return [s for s in out if s.strip()]


def _abbreviation_before(text: str, pos: int) -> bool:
    m = re.search(r"([\w.]+)$", text[max(0, pos - 12):pos])
    if not m:
        return False
    word = m.group(1).lower()
    # "J. Smith": an initial
    return word in _ABBREVIATIONS or (len(word) == 1 and text[pos - 1].isupper())


def split_answer(text: str) -> list[tuple[str, list[int]]]:
    """Answer text -> (sentence without markers, cited numbers); a trailing [n] joins its sentence."""
    out: list[tuple[str, list[int]]] = []
    for sentence in _sentences(text):
        raw = sentence.strip()
        if not raw:
            continue
        nums = [int(x) for g in MARKER.findall(raw) for x in re.split(r"\s*[,;]\s*", g)]
        clean = MARKER.sub("", raw).strip()
        clean = re.sub(r"\s+([.,;:!?])(?=[\s\"'”’)\]]|$)", r"\1", clean)
        if clean:
            out.append((clean, list(dict.fromkeys(nums))))
        elif nums and out:  # markers alone: they belong to the sentence before
            prev, pn = out[-1]
            out[-1] = (prev, list(dict.fromkeys(pn + nums)))
    return out


def _folded(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip(" .")


def split_complete(text: str) -> tuple[str, str]:
    """A streamed draft -> (its complete sentences, the sentence still being written), both
    as the raw text, so that the spaces at piece boundaries survive whatever side they are on.
    A sentence is complete once another has begun (its markers may still follow)."""
    pieces = _sentences(text)
    if len(pieces) < 2:
        return "", text
    last = len(text) - len(pieces[-1])
    # markers after a full stop arrive in pieces ("... bridges. [1" then "][2] Next"): until a
    # sentence follows them, they belong to the one before, which is not complete yet
    if text[last:].lstrip().startswith("["):
        if len(pieces) < 3:
            return "", text
        last = len(text) - len(pieces[-1]) - len(pieces[-2])
    return text[:last], text[last:]


@dataclass(frozen=True)
class Support:
    score: float  # the judge's probability that the passage supports the claim
    span: tuple[int, int]  # offsets of the best-matching sentences in the passage text
    # why the passage does not support the claim (which of its facts): empty when it does
    conflicts: tuple[str, ...] = ()
    supported: bool = False


class SupportScorer:
    """The support judge: does a passage support a claim sentence? A claim quoted verbatim
    from its passage is supported as it stands; any other is read by the learned model
    (rag/support_model.py over rag/support_features.py: the fact rules, the claim's coverage,
    where its numbers, dates and names sit in the passage, stance words reversed), and a claim
    with a number the passage never states is refused whatever the model says."""

    def __init__(self, model: SupportModel | None = None, threshold: float | None = None):
        self.model = model if model is not None else default_model()
        self.threshold = self.model.threshold if threshold is None else float(threshold)

    def score(self, claim: str, passage: str, *, published: str | None = None,
              title: str = "") -> Support:
        """How well `passage` supports `claim`, and whether it does. `published` and `title`
        are the passage's article metadata a claim may cite."""
        if not stems(claim):
            return Support(0.0, (0, len(passage)), ("no words to check",))
        # an answerer's date label ("(20 November) ...") is the article's date: checked against
        # it when it is known, and the sentence read without it
        label = DATE_LABEL.match(claim)
        if label and (not published or _label_matches(label.group(), published)):
            claim = claim[label.end():]
        # a verbatim quote cannot contradict its passage: only where it rests is looked up
        if _verbatim(claim, passage):
            return Support(1.0, best_window(claim, passage)[0], (), True)
        reading = read(claim, passage, published=published, title=title)
        p = float(self.model.scorer.predict_proba(reading.values[None, :])[0])
        vetoed = tuple(r for r in reading.reasons if rule_of(r) in self.model.vetoes)
        if p >= self.threshold and not vetoed:
            return Support(p, reading.window, (), True)
        reasons = vetoed or reading.reasons or (
            f"the passage does not state it (judge {p:.2f} < {self.threshold:.2f})",)
        log.debug("not supported (%s): %r", "; ".join(reasons), claim)
        return Support(0.0 if vetoed else p, reading.window, reasons, False)


def _verbatim(claim: str, passage: str) -> bool:
    """The claim is the passage's own words, whole words at both ends ("2" is not in "2026")."""
    c, p = _folded(claim), _folded(passage)
    if not c:
        return False
    return any(_edge(p, i - 1, i - 2) and _edge(p, i + len(c), i + len(c) + 1)
               for i in _find_all(p, c))


def _edge(text: str, at: int, beyond: int) -> bool:
    """text[at] ends a word: nothing, or not a letter or digit, nor the point of a number."""
    if at < 0 or at >= len(text):
        return True
    if text[at].isalnum():
        return False
    return not (text[at] in ".," and 0 <= beyond < len(text) and text[beyond].isdigit())


def _find_all(text: str, part: str):
    i = text.find(part)
    while i >= 0:
        yield i
        i = text.find(part, i + 1)


def _label_matches(label: str, published: str | None) -> bool:
    """"On 12 November, " or "(12 November 2026) " names the article's own date."""
    if not published:
        return False
    words = published_words(published).split()  # weekday day month year
    m = re.search(r"(\d{1,2}) ([A-Z][a-z]+)(?: (\d{4}))?", label)
    return bool(m) and int(m.group(1)) == int(words[1]) and m.group(2).lower() == words[2] and (
        not m.group(3) or m.group(3) == words[3])


@dataclass(frozen=True)
class Checked:
    text: str
    sentences: tuple[AnswerSentence, ...]
    citations: tuple[Citation, ...]
    # sentences no given passage supports, each with its reasons ("drop" leaves them out)
    withdrawn: tuple[AnswerSentence, ...] = ()


class CitationChecker:
    def __init__(self, scorer: SupportScorer | None = None, unsupported: str = "drop",
                 attach: bool = True, keep_uncited: Sequence[str] = ()):
        self.scorer = scorer if scorer is not None else SupportScorer()
        self.unsupported = unsupported  # "drop" the sentence, or "mark" it as unverified
        # a sentence (or a bare short answer) without a marker gets the passage that supports
        # it, checked the same way: small models often leave the markers out
        self.attach = attach
        self.keep_uncited = frozenset(keep_uncited)  # e.g. the abstention sentence

    def _attach(self, text: str, passages: Sequence[Passage]) -> tuple[str, list, list[str]]:
        """The best-supporting passage of an uncited sentence, if one supports it; a bare
        short answer ("2.3 billion euros") is shown with the sentence that states it. Without
        one: why the closest passage does not support it."""
        best: tuple[int, Support] | None = None
        closest: tuple[int, Support] | None = None
        for n, p in enumerate(passages, start=1):
            c = p.chunk
            sup = self.scorer.score(text, c.text, published=c.published, title=c.title)
            if sup.supported and (best is None or sup.score > best[1].score):
                best = (n, sup)
            if closest is None or sup.score > closest[1].score:
                closest = (n, sup)
        if best is None:
            return text, [], [f"[{closest[0]}] {r}" for r in closest[1].conflicts] if closest else []
        n, sup = best
        if len(text.split()) <= 5:
            stated = passages[n - 1].chunk.text[sup.span[0]:sup.span[1]]
            if text.rstrip(" .").lower() != stated.rstrip(" .").lower():
                text = f"{text.rstrip(' .')}: {stated}"
        return text, [best], []

    def check(self, draft: str, passages: Sequence[Passage], renumber: dict[int, int]) -> Checked:
        """Keep citations to given, supporting passages; renumber them in order of first use.

        `renumber` maps given passage numbers to shown numbers and grows as citations are
        accepted, so a streamed answer keeps one numbering across calls."""
        sentences: list[AnswerSentence] = []
        withdrawn: list[AnswerSentence] = []
        citations: dict[int, Citation] = {}
        for text, nums in split_answer(draft):
            valid = [n for n in nums if 1 <= n <= len(passages)]  # others never shown
            kept: list[tuple[int, Support]] = []
            refused: list[str] = []
            for n in valid:
                c = passages[n - 1].chunk
                sup = self.scorer.score(text, c.text, published=c.published, title=c.title)
                if sup.supported:
                    kept.append((n, sup))
                else:
                    refused += [f"[{n}] {r}" for r in sup.conflicts]
            attached = False
            if not nums and self.attach and text not in self.keep_uncited:
                text, kept, refused = self._attach(text, passages)
                attached = bool(kept)
            if not kept and text not in self.keep_uncited:
                if not refused:
                    refused = ["it cites no given passage" if nums else "no passage supports it"]
                rejected = AnswerSentence(text, (), 0.0, supported=False,
                                          reasons=tuple(dict.fromkeys(refused)))
                log.debug("withdrawn: %r (%s)", text, "; ".join(rejected.reasons))
                if self.unsupported == "drop":
                    withdrawn.append(rejected)
                else:
                    sentences.append(rejected)
                continue
            shown: list[int] = []
            spans: list[tuple[int, int, int]] = []
            for n, sup in kept:
                number = renumber.setdefault(n, len(renumber) + 1)
                shown.append(number)
                spans.append((number, *sup.span))
                c = passages[n - 1].chunk
                prev = citations.get(number)
                if prev is None or sup.score > prev.support:
                    citations[number] = Citation(
                        number=number, chunk_id=c.id, article_id=c.article_id, title=c.title,
                        source=c.source, url=c.url, published=c.published, passage=c.text,
                        span_start=c.start + sup.span[0], span_end=c.start + sup.span[1],
                        support=sup.score, chunk_start=c.start,
                    )
            support = max((s.score for _, s in kept), default=0.0)
            sentences.append(AnswerSentence(text, tuple(shown), support, supported=bool(kept),
                                            attached=attached, spans=tuple(spans)))
        return Checked(render(sentences), tuple(sentences),
                       tuple(citations[k] for k in sorted(citations)), tuple(withdrawn))


def render(sentences: Sequence[AnswerSentence]) -> str:
    parts = []
    for s in sentences:
        marks = "".join(f"[{n}]" for n in s.citations)
        if s.supported or not s.text:
            parts.append(f"{s.text} {marks}".strip())
        else:
            parts.append(f"{s.text} (unverified)")
    return " ".join(parts)
