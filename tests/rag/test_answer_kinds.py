"""The extractive answerer reads the question: each kind of question on our own demo articles,
follow-ups in the story, dated story answers, two-part questions, abstentions, streamed spacing."""
from __future__ import annotations

import json
import re
from datetime import date

import pytest

from rag.errors import InvalidQuestionError, UnknownSourceError
from rag.pipeline import NewsRAG
from rag.question import analyse, parts
from tests.conftest import AS_OF, REPO

QUESTIONS = [json.loads(x) for x in (REPO / "demo" / "questions.jsonl").read_text().splitlines()]
KINDS = ("who", "where", "when", "quantity", "why", "which", "outcome", "acronym", "event")
BY_KIND = [q for q in QUESTIONS if q.get("kind") in KINDS]
OFF_CORPUS = [json.loads(x) for x in
              (REPO / "demo" / "questions_offcorpus.jsonl").read_text().splitlines()]


def _has(text: str, golds) -> bool:
    return any(g.lower() in text.lower() for g in golds)


def _ask_one_story(make_settings, embedder, tmp_path, story: dict | list[dict], *questions: str):
    """A fresh index holding only `story` (a JSONL feed line, or several), and its answers to
    `questions` as of 2026-12-01."""
    from ingest.run import ingest
    from rag.index import Index

    feed = tmp_path / "story.jsonl"
    feed.write_text("".join(json.dumps(s) + "\n" for s in
                            (story if isinstance(story, list) else [story])))
    index = Index.open(make_settings(), embedder)
    ingest(index, [feed])
    rag = NewsRAG(index)
    try:
        return [rag.ask(q, as_of="2026-12-01") for q in questions]
    finally:
        rag.close()


@pytest.mark.parametrize("question, kind", [
    ("Who was appointed to mediate the Port Calder transit strike?", "who"),
    ("Where will the fisheries summit be held?", "where"),
    ("When will the Mill Race bridge reopen?", "when"),
    ("What was the vote when the council approved Stage 2?", "outcome"),
    ("How much will the Orrin Valley rail tunnel cost?", "quantity"),
    ("What share of members voted for the strike?", "quantity"),
    ("How did the dockers vote on the deal?", "outcome"),
    ("Why was the ferry service suspended?", "why"),
    ("Which company pulled scooters off the streets?", "who"),
    ("Which thruster showed low pressure?", "which"),
    ("What does PSL stand for?", "acronym"),
    ("What happened at Cape Arden on October 17?", "event"),
    ("What is the latest on the Port Calder transit strike?", "event"),
    ("What was the magnitude of the Corran Bay quake?", "quantity"),
    ("What was the record high average price of a season pass?", "quantity"),
    ("What raise does the Mallowport dockers' new 4-year deal give them?", "quantity"),
    ("What does a single ferry ticket to Skerrin Island cost now?", "quantity"),
    ("What did the council decide?", "outcome"),
])
def test_question_kinds_are_read(question, kind):
    assert analyse(question).kind == kind


def test_two_part_questions_split_and_one_part_questions_do_not():
    assert parts("How long did the strike last, and what did the ferry ticket cost?") == [
        "How long did the strike last?", "what did the ferry ticket cost?"]
    assert parts("Which two countries did NATO invite to join, and when?") == [
        "Which two countries did NATO invite to join, and when?"]
    assert parts("Who won?") == ["Who won?"]


def test_the_asking_words_are_not_terms_and_an_asked_verb_is():
    assert analyse("How long did the Mallowport dockers' strike last?").terms == (
        "mallowport", "dockers", "strike", "last")
    assert "much" not in analyse("How much will the Orrin Valley rail tunnel cost?").terms
    # "on what date" asks for a date: "date" is no word the news must hold (a demo question
    # abstained on it until 2026-12-04, since no article uses the word)
    assert analyse("On what date did Lumen-1 finally launch?").terms == (
        "lumen-1", "finally", "launch")
    assert "year" not in analyse("In which year was the league founded?").terms
    assert "date" in analyse("Who set the date of the vote?").terms


# Known misses of the lead sentence, measured 2026-12-02 (docs/eval/README.md): the fact is in
# the answer or the passages but another sentence leads. Strict: fixing one shows here.
KNOWN_LEAD_MISSES: set[str] = set()  # none left on 2026-12-03


@pytest.mark.parametrize("q", [
    pytest.param(q, marks=pytest.mark.xfail(strict=True, reason="known lead miss"))
    if q["question"] in KNOWN_LEAD_MISSES else q for q in BY_KIND],
    ids=[q["question"][:50] for q in BY_KIND])
def test_each_kind_of_question_is_answered_with_the_fact_first(demo_rag, q):
    a = demo_rag.ask(q["question"], as_of=q["as_of"])
    assert not a.abstained, a.text
    assert _has(a.sentences[0].text, q["answers"]), (a.text, q["answers"])
    # three sentences and about 80 words at most (a long lead sentence stands alone)
    n_words = len(" ".join(s.text for s in a.sentences).split())
    assert len(a.sentences) <= 3 and n_words <= max(80, len(a.sentences[0].text.split()))


def test_the_price_leads_the_tunnel_answer(demo_rag):
    """The issue's first example: the price, not the vote or the lorries, opens the answer."""
    a = demo_rag.ask("How much will the Orrin Valley rail tunnel cost?", as_of=AS_OF)
    assert "2.3 billion euros" in a.sentences[0].text


def test_the_issue_examples(demo_rag):
    """The dockers' "members voted 412 to 187" holds one question word ("deal" is in the
    sentence before it): it is answered because its passage is about the question (the gate
    lets a sentence of the asked kind lean on its own passage, rag/answerers/extractive.py)."""
    a = demo_rag.ask("How much will the Orrin Valley rail tunnel cost?", as_of=AS_OF)
    assert "2.3 billion euros" in a.sentences[0].text
    a = demo_rag.ask("How did the dockers vote on the deal?", as_of=AS_OF)
    assert not a.abstained and "412 to 187" in a.sentences[0].text
    a = demo_rag.ask("What does PSL stand for?", as_of=AS_OF)
    assert "Port Safety League" in a.sentences[0].text
    assert a.sentences[0].text.rstrip("?.") != "What does PSL stand for"


def test_a_two_part_question_gets_each_part_from_its_passage(demo_rag):
    q = next(q for q in QUESTIONS if q.get("kind") == "multi-part")
    a = demo_rag.ask(q["question"], as_of=q["as_of"])
    assert all(_has(a.text, [g]) for g in q["answers"]), (a.text, q["answers"])
    # each part from the article that answers it: both retrieved, both cited
    assert {c.title for c in a.citations} >= set(q["gold_titles"]), a.citations
    assert {p.chunk.title for p in a.passages} >= set(q["gold_titles"])


# Known false answers (docs/eval/README.md, "The extractive answerer"): every word of these
# questions is somewhere in the news, so neither the terms nor the meaning gate catches them.
# none since 2026-12-04: Mallowport airport (a rail article's passengers), the Skerrin ferry's
# season pass (a vessel's cost) and the Port Safety League's founder ("since it was founded in
# 1986", no one named) were answered before
KNOWN_FALSE_ANSWERS: set[str] = set()


@pytest.mark.parametrize("q", [
    pytest.param(q, marks=pytest.mark.xfail(strict=True, reason="known false answer"))
    if q["question"] in KNOWN_FALSE_ANSWERS else q for q in OFF_CORPUS],
    ids=[q["question"][:50] for q in OFF_CORPUS])
def test_off_corpus_questions_abstain(demo_rag, q):
    a = demo_rag.ask(q["question"], as_of=q["as_of"])
    assert a.abstained and not a.citations, a.text


def test_story_questions_lead_with_the_newest_and_say_when(demo_rag):
    a = demo_rag.ask("What is the latest on the Port Calder transit strike?", as_of=AS_OF)
    dates = [re.match(r"On (\d{1,2} \w+),", s.text) for s in a.sentences]
    assert all(dates), a.text
    days = [date(2026, _month(m.group(1)), int(m.group(1).split()[0])) for m in dates]
    assert days == sorted(days, reverse=True) and days[0] >= date(2026, 11, 9)
    # each date is its cited article's own
    by_number = {c.number: c for c in a.citations}
    for s, d in zip(a.sentences, days):
        assert by_number[s.citations[0]].published[:10] == d.isoformat()


def test_a_story_answer_opens_with_its_newest_articles_lead(demo_rag):
    """The newest article's own opening sentence (the 92% ridership), not its second one (the
    weekday boardings), leads the latest on the strike (`W_LEAD`; until 2026-12-04 it did not)."""
    a = demo_rag.ask("What is the latest on the Port Calder transit strike?", as_of="2026-11-24")
    assert "92%" in a.sentences[0].text, a.text


def _month(text: str) -> int:
    from rag.facts import MONTHS

    return MONTHS.index(text.split()[1].lower()) + 1


def test_follow_ups_answer_in_the_conversations_story(demo_rag):
    first = demo_rag.ask("Who was appointed to mediate the Port Calder transit strike?",
                         as_of=AS_OF)
    assert "Judith Venn" in first.text
    history = [("Who was appointed to mediate the Port Calder transit strike?", first.text)]
    mediated = first.citations[0].published[:10]
    a = demo_rag.ask("and what happened next?", history=history, as_of=AS_OF)
    assert not a.abstained, a.text
    assert all(c.published[:10] > mediated for c in a.citations), a.citations
    assert any("strike" in c.passage.lower() or "transit" in c.title.lower()
               for c in a.citations)
    a = demo_rag.ask("and what raise did the drivers get in the end?", history=history,
                     as_of=AS_OF)
    assert "4.5%" in a.text


def test_unknown_outlet_and_invisible_questions_are_clear_errors(demo_rag):
    with pytest.raises(UnknownSourceError, match=r"Nonesuch.*Outlets in the index: .*Harbor Ledger"):
        demo_rag.ask("What did the council decide?", sources=["Nonesuch"], as_of=AS_OF)
    for blank in ("\u200b", "\u200b\u200c\ufeff", " \u2060 "):
        with pytest.raises(InvalidQuestionError, match="empty"):
            demo_rag.ask(blank, as_of=AS_OF)


class _Pieces:
    """A real answerer of the protocol that streams a fixed, correctly cited draft in pieces
    split at spaces, with the space on either side of the boundary."""

    name = "pieces"
    complete = None

    def __init__(self, draft: str, side: str):
        self.draft, self.side = draft, side

    def stream(self, question, passages, *, as_of, history=()):
        bits = re.findall(r"\S+\s*" if self.side == "trailing" else r"\s*\S+", self.draft)
        yield from bits


@pytest.mark.parametrize("side", ["trailing", "leading"])
def test_a_streamed_answer_keeps_its_spaces(demo_rag, side):
    ps = demo_rag.retrieve("How many scooters did Tidewheel Mobility pull from service?",
                           as_of=AS_OF)
    n = next(i for i, p in enumerate(ps, 1) if "3,100 scooters" in p.chunk.text)
    sentence = next(s for s in re.split(r"(?<=[.!?])\s+", ps[n - 1].chunk.text)
                    if "3,100 scooters" in s)
    draft = f"{sentence} [{n}] {sentence} [{n}]"
    rag = NewsRAG(demo_rag.index, answerer=_Pieces(draft, side))
    events = list(rag.ask_stream("How many scooters did Tidewheel Mobility pull from service?",
                                 as_of=AS_OF))
    streamed = "".join(e["text"] for e in events if e["event"] == "delta")
    assert streamed == events[-1]["data"]["answer"]
    assert sentence in streamed, streamed  # no piece glued to the next
    whole = rag.ask("How many scooters did Tidewheel Mobility pull from service?", as_of=AS_OF)
    assert streamed == whole.text


@pytest.mark.parametrize("sentence, holds", [
    ("Owners of the SUVs that were recalled over fire risks should park them outside.", True),
    ("As severe drought persists in the Valley, towns are cancelling their firework shows.", True),
    ("With inflation driving up the cost of everything, families are moving away.", True),
    ("The strike was fuelled by anger over split shifts.", True),
    ("The recalls involved 245,030 vehicles, the consumer alert added.", False),
])
def test_a_why_question_looks_for_a_cause(sentence, holds):
    from rag.answer_types import answer_strength

    q = analyse("Why were the fireworks displays cancelled?")
    assert q.kind == "why"
    assert (answer_strength(q, sentence) > 0) is holds


def test_a_measure_is_the_number_beside_its_word():
    """ "What was the magnitude": the number next to "magnitude", not the question's own
    number nor another year or count."""
    from rag.answer_types import answer_strength

    q = analyse("The quake killed more than 1,000 people. What was the magnitude of the quake?")
    assert (q.kind, q.focus) == ("quantity", "magnitude")
    assert answer_strength(q, "The magnitude 5.9 quake struck before dawn.") == 1.0
    assert answer_strength(q, "More than 1,000 people died in 2002 in two quakes.") < 1.0
    assert answer_strength(q, "More than 1,000 people died.") == 0.0


@pytest.mark.parametrize("sentence, strength", [
    ("Ghana has confirmed its first cases of the Marburg virus.", 1.0),
    ("The North Korean leader declared victory over the virus.", 1.0),  # an adjective form
    ("Marburg is a fever in the same family as Ebola, according to the WHO.", 0.2),
    ("The United States sent doctors, and the US said so again.", 0.2),  # the question's own
])
def test_a_which_country_question_wants_a_country_it_does_not_name(sentence, strength):
    from rag.answer_types import answer_strength

    q = analyse("Which country besides the United States confirmed cases of Marburg virus?")
    assert q.kind == "where"
    assert answer_strength(q, sentence) == strength
    assert analyse("The prime minister of which European nation stepped down?").kind == "where"


def test_who_counts_the_first_name_that_opens_a_sentence() -> None:
    from rag.answer_types import answer_strength
    from rag.question import analyse

    q = analyse("Who retired as keeper of the Marrowfen lighthouse?")
    right = ("Tobias Ashgrove, the keeper of the Marrowfen lighthouse for thirty-one years, "
             "retired on Friday.")
    other = "Marisol Venn, the keeper of the Quillbrook lighthouse, retired on Friday."
    # the person asked about is as good an answer as another person with another place
    assert answer_strength(q, right) == answer_strength(q, other) == 1.0
    assert answer_strength(q, "Monday Council members met the keeper.") < 1.0


def test_a_sentence_of_the_asked_kind_leans_on_its_own_passage(make_settings, embedder, tmp_path):
    """"Who designed ...?" shares one word with the sentence naming the architect, and four with
    the sentence before it in the same passage: it is answered with the architect, not abstained
    (it abstained before 2026-12-02)."""
    from tests.conftest import NEW_STORY

    a, off = _ask_one_story(make_settings, embedder, tmp_path, NEW_STORY,
                            "Who designed the library at the Tessany Quay glassworks?",
                            "Who designed the Tessany Quay footbridge?")
    assert not a.abstained and "Ilse Marbeck" in a.sentences[0].text
    assert off.abstained, off.text  # no footbridge in the news


def test_a_scene_setting_statement_does_not_decide_what_is_asked():
    q = analyse("The Corran Bay ferry was suspended again this week, a year since the last "
                "breakdown. Which vessel replaced it?")
    assert q.kind == "which" and not q.story  # "since" in the statement is not "what since"
    assert {"corran", "bay", "suspended"} <= q.context and "vessel" not in q.context
    q = analyse("Dockers at the port, who struck for 12 days, voted this week. Where is the port?")
    assert q.kind == "where"  # the statement's "who" is not the question's


def test_answer_kinds_read_causes_places_and_opening_names():
    from rag.answer_types import answer_strength

    why = analyse("Why did Alderford cancel its fireworks?")
    assert answer_strength(why, "As severe drought persists, towns are cancelling shows.") == 1.0
    assert answer_strength(why, "The show has run every year since 1976.") < 1.0
    where = analyse("Where are many Harrowgate families moving?")
    assert answer_strength(where, "A growing number of families are making Portugal home.") == 1.0
    state = analyse("In which state was the winning Skerrin lottery ticket bought?")
    assert answer_strength(state, "Lottery fever is burning through the USA this week.") < 1.0
    which = analyse("Which of the following cities saw the biggest rise in rents?")
    assert answer_strength(which, "Miami, where rents were up 26.2%, saw the biggest rise.") == 1.0


def test_words_quoted_in_a_question_do_not_ask_for_the_latest():
    q = analyse("Which film did the Harrowgate mayor call “so close to what is happening right "
                "now”?")
    assert q.kind == "which" and not q.story
    assert analyse("What is happening now with the Harrowgate film festival?").story


def test_a_relative_clause_does_not_decide_what_is_asked():
    q = analyse("Harrowgate marks Founders' Day, which honours the town's first charter. In "
                "which year was the charter granted?")
    assert q.kind == "when"
    q = analyse("The Corran Bay ferry, which broke down twice, was replaced in which year?")
    assert q.kind == "when"  # the "which" after the comma opens a clause; the asking one wins
    assert analyse("Which ferry, which broke down twice, was replaced?").kind == "which"


def test_a_what_year_question_wants_a_year_it_does_not_hold():
    from rag.answer_types import answer_strength

    q = analyse("In what year did the Mill Race bridge first open?")
    assert answer_strength(q, "The Mill Race bridge first opened in 1931.") == 1.0
    assert answer_strength(q, "The bridge will reopen on Saturday, December 5.") == 0.0
    q = analyse("Which year after 2019 saw the Mill Race bridge close?")
    assert answer_strength(q, "The bridge closed in 2019 for repairs.") == 0.0
    assert answer_strength(q, "It closed again in 2022.") > 0.0


def test_a_hyphenated_name_is_one_name_and_its_parts_are_the_questions():
    from rag.answer_types import answer_strength
    from rag.facts import names

    assert "covid-19" in names("Cases of Covid-19 rose in Harrowgate.")
    q = analyse("Who leads the Covid-19 response in Harrowgate?")
    # "Covid" is the question's own word, not a new name that could be the answer
    assert answer_strength(q, "The Covid response is slow, Harrowgate says.") == 0.0
    assert answer_strength(q, "Covid efforts are led by Maren Tolliver in Harrowgate.") > 0.0


def test_next_as_a_time_or_a_thing_is_not_what_came_next():
    q = analyse("Which product will Harrowgate Motors unveil early next month?")
    assert not q.story and not q.next  # a date phrase: not a story's course, newest first
    assert not analyse("Who will be the next mayor of Alderford?").next
    assert analyse("What did the Port Calder union do next?").next
    assert analyse("and what happened next?").story


def test_a_dated_sentence_reads_on_after_its_date():
    from rag.answerers.extractive import _dated

    assert (_dated("But the strike went on.", "2026-11-20")
            == "On 20 November, but the strike went on.")
    assert _dated("Judith Venn was named.", "2026-10-20") == "On 20 October, Judith Venn was named."
    passage = "Ridership has climbed back to 92%. Board chair Evelyn Marsh spoke.\n\nMarsh said so."
    assert (_dated("Ridership has climbed back to 92%.", "2026-11-20", passage)
            == "On 20 November, ridership has climbed back to 92%.")
    assert (_dated("Marsh said so.", "2026-11-20", passage) == "On 20 November, Marsh said so.")


def test_a_statement_to_complete_asks_for_its_ending():
    q = analyse("Officials say the Kessel Pass fire was started by a hiker who was trying to:")
    assert q.kind == "other"  # "a hiker who was trying": a relative clause, not "who?"
    assert analyse("The Corran Bay coach, who:").kind == "other"
    assert analyse("The strike ended, paving the way for who to lead the union?").kind == "who"


def test_a_which_question_knows_the_kind_of_thing_it_asks_for():
    from rag.answer_types import asked_thing, names_thing

    q = analyse("The Redmere trial vaccine would be the first to prevent which disease?")
    assert asked_thing(q) == ["disease"]
    assert names_thing(q, "Rising rates of Lyme disease worry Redmere doctors.")
    assert not names_thing(q, "The disease spreads in summer.")  # no name of one
    q = analyse("The Kessel fire threatened a grove in which national park?")
    assert asked_thing(q) == ["national", "park"]
    assert names_thing(q, "Visitors to Ardent Hills National Park were told to leave.")
    assert not names_thing(analyse("Which shows won the most awards?"),
                           "TV shows with the most awards of all time")


CLOZE_STORY = {
    "id": "crown-1", "title": "Harrowgate crown falls to parity as exporters cheer",
    "source": "Harrowgate Ledger", "published": "2026-11-26T08:00:00Z",
    "url": "https://ledger.example/crown",
    "text": "For the first time in 20 years, the Harrowgate crown is nearly equal in value to "
            "the euro. Finance minister Odile Brask said on Tuesday that the weaker crown "
            "would help exporters such as Varnholt Steel and Kessel Mills.\n\nThe Harrowgate "
            "Central Bank has kept its main rate at 3.5% since March, and governor Piet Loams "
            "said the bank would not defend any level of the currency.",
}


def test_the_questions_own_statement_with_the_answer_filled_in_answers_it(
        make_settings, embedder, tmp_path):
    """Quiz questions are often an article's sentence with the answer taken out: that sentence,
    whose only new word is the answer ("the euro", lowercase), is the answer; it was scored as
    a restatement of the question before 2026-12-04 and named-but-wrong sentences led."""
    [a] = _ask_one_story(make_settings, embedder, tmp_path, CLOZE_STORY,
                         "For the first time in 20 years, the Harrowgate crown is nearly equal "
                         "to which currency in value?")
    assert not a.abstained and "euro" in a.sentences[0].text, a.text


QUOTE_STORY = {
    "id": "orrin-quote-1", "title": "Orrin tunnel plan goes ahead despite opposition",
    "source": "Orrin Valley Gazette", "published": "2026-11-27T08:00:00Z",
    "url": "https://gazette.example/orrin-quote",
    "text": "Transport minister Aldo Fenwick said on Tuesday that the Orrin tunnel plan would go "
            "ahead as the regional assembly voted. Assembly members from the valley's towns "
            "backed the minister's plan for the tunnel.\n\n“It is a bridge to nowhere,” said "
            "Marta Quill, who speaks on finance for the opposition. Work on the Lindenford "
            "portal is due to start in the spring.",
}


def test_the_words_a_question_quotes_find_who_said_them(make_settings, embedder, tmp_path):
    """The sentence holding the quoted words answers "who said ...": it shares few other words
    with the question, so the minister's sentence led before 2026-12-04."""
    from rag.answerers.extractive import _quoted

    assert _quoted("Who called the plan “a bridge to nowhere” this week?") == [
        "a bridge to nowhere"]
    assert _quoted("What did “Squid Game” win?") == []  # a title, not words someone said
    [a] = _ask_one_story(make_settings, embedder, tmp_path, QUOTE_STORY,
                         "Who said this week that the Orrin tunnel plan of the transport minister "
                         "was “a bridge to nowhere”?")
    assert not a.abstained and "Marta Quill" in a.sentences[0].text, a.text


def test_the_filled_in_reading_counts_the_sentences_own_words_not_its_articles_date():
    """A short sentence of an article dated "this week" shares the dates bonus but hardly any of
    the question's words: it is no filled-in statement. The test read the share after the bonus
    (0.45) until 2026-12-04, so a sentence of the week's news holding one question word and up to
    three others passed it."""
    from rag.answerers.extractive import ExtractiveAnswerer
    from rag.types import Chunk, Passage

    text = ("It rained all day at the festival. The Harrowgate festival was headlined by Saltmarsh on the "
            "Marsh Field this week.")
    chunk = Chunk("fest-0000", "fest", 0, text, 0, len(text), "Harrowgate festival",
                  "Harrowgate Ledger", "2026-11-26T08:00:00Z")
    q = analyse("The Harrowgate festival was headlined by which band on the Marsh Field this week?")
    assert q.kind == "which"
    cands = {c.text: c for c in ExtractiveAnswerer().candidates(q, [Passage(chunk, 1.0)],
                                                               as_of=date(2026, 11, 27))}
    assert cands["It rained all day at the festival."].kind < 1.0  # dated this week, but none of the words
    assert cands["The Harrowgate festival was headlined by Saltmarsh on the Marsh Field this "
                 "week."].kind == 1.0


def test_a_further_sentence_of_a_who_answer_names_someone_new():
    """After the lead has named the chair, a sentence that names her again only takes the room
    of one that says more: it ranked second and was added until 2026-12-04."""
    from rag.answerers.extractive import ExtractiveAnswerer
    from rag.types import Chunk, Passage

    lead = "Judge Ada Voss will chair the Harrowgate harbour inquiry, the ministry said on Monday."
    again = "The Harrowgate harbour inquiry will be chaired by Voss, who sat on the appeal court."
    deputy = "Tomas Reyne, a retired harbour master, will sit beside her as deputy."
    text = f"{lead} {again} {deputy}"
    chunk = Chunk("inq-0000", "inq", 0, text, 0, len(text), "Harrowgate harbour inquiry",
                  "Harrowgate Ledger", "2026-11-26T08:00:00Z")
    question = "Who will chair the Harrowgate harbour inquiry?"
    answerer = ExtractiveAnswerer()
    ranked = [c.text for c in answerer.candidates(analyse(question), [Passage(chunk, 1.0)])]
    assert ranked == [lead, again, deputy]  # the restatement is the more relevant
    assert [c.text for c in answerer.select(question, [Passage(chunk, 1.0)], limit=2)] == [
        lead, deputy]


FESTIVAL_STORY = {
    "id": "festival-1", "title": "Saltmarsh close the Harrowgate festival in the rain",
    "source": "Harrowgate Ledger", "published": "2026-11-23T08:00:00Z",
    "url": "https://ledger.example/festival",
    "text": "The folk band Saltmarsh headlined the closing night of the Harrowgate festival on "
            "Saturday, playing for two hours on the Marsh Field stage despite steady rain.\n\n"
            "Singer Maren Holt thanked the 9,000 people who stayed to the end. The organisers "
            "said next year's festival would move to July.",
}
# another story, so that "joined" is a word the index holds (a question word the news never
# uses abstains by itself)
CHOIR_STORY = {
    "id": "choir-1", "title": "Harrowgate choir gains members",
    "source": "Harrowgate Ledger", "published": "2026-11-20T08:00:00Z",
    "url": "https://ledger.example/choir",
    "text": "Forty singers joined the Harrowgate town choir this autumn, its conductor said, "
            "the most since it began rehearsing in the old corn exchange.",
}


def test_who_did_a_deed_the_article_never_tells_abstains(make_settings, embedder, tmp_path):
    """"Who joined ... on stage?" of an article that names the band but never says anyone
    joined it: answered with the headliners until 2026-12-04 (a RealTime QA question about
    Glastonbury the same way)."""
    joined, headlined = _ask_one_story(
        make_settings, embedder, tmp_path, [FESTIVAL_STORY, CHOIR_STORY],
        "Who joined Saltmarsh on stage at the Harrowgate festival?",
        "Who headlined the closing night of the Harrowgate festival?")
    assert joined.abstained, joined.text
    assert not headlined.abstained and "Saltmarsh" in headlined.sentences[0].text, headlined.text


SATELLITE_STORY = {
    "id": "ardent-1", "title": "Ardent-2 weather satellite reaches orbit on second try",
    "source": "Skerry Courier", "published": "2026-10-22T08:00:00Z",
    "url": "https://courier.example/ardent",
    "text": "The Ardent-2 weather satellite launched from Skerry Point on October 21, four days "
            "after a first attempt was scrubbed because of a faulty valve.\n\n"
            "It is the final satellite of the Ardent series, the agency said, and will send its "
            "first pictures in December.",
}


def test_on_what_date_is_asked_of_news_that_never_says_date(make_settings, embedder, tmp_path):
    """No article uses the word "date": "On what date ..." is answered with the date, not
    abstained on as a question about a thing the news never mentions (until 2026-12-04)."""
    (launch,) = _ask_one_story(make_settings, embedder, tmp_path, SATELLITE_STORY,
                               "On what date did the Ardent-2 satellite finally launch?")
    assert not launch.abstained and "October 21" in launch.sentences[0].text, launch.text


OLD_PM_STORY = {
    "id": "valdora-pm", "title": "Valdora's prime minister steps down after budget revolt",
    "source": "Harbor Ledger", "published": "2025-03-29T08:00:00Z",
    "url": "https://ledger.example/valdora-pm",
    "text": "Prime Minister Tomas Brel of Valdora stepped down on Sunday after a month of "
            "turmoil over his budget, leaving the country without a government.",
}
NEW_PM_STORY = {
    "id": "ostmark-pm", "title": "Ostmark leader quits after losing confidence vote",
    "source": "Harbor Ledger", "published": "2026-11-27T08:00:00Z",
    "url": "https://ledger.example/ostmark-pm",
    "text": "Ostmark's prime minister, Anja Keller, resigned on Thursday after losing a "
            "confidence vote in parliament by 88 votes to 71.",
}


def test_this_weeks_news_leads_over_an_old_story_in_the_questions_words(
        make_settings, embedder, tmp_path):
    """"stepped down this week": the old story says "stepped down", the week's says
    "resigned". An article dated over 60 days before the asked dates weighs less
    (`W_STALE`); the 2021 resignation of another prime minister led a RealTime QA answer
    about Draghi's that way until 2026-12-04."""
    (a,) = _ask_one_story(make_settings, embedder, tmp_path, [OLD_PM_STORY, NEW_PM_STORY],
                          "The prime minister of which country stepped down this week?")
    assert not a.abstained and "Ostmark" in a.sentences[0].text, a.text
