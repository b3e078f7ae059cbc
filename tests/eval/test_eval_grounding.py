"""Grounding (ALCE citation recall/precision) on hand-made answers, and the judges' contract."""
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from eval.grounding import (
    CheckPair,
    CitedSentence,
    JudgeError,
    LearnedJudge,
    LLMJudge,
    aggregate,
    best_threshold,
    check_judge,
    cited_sentences,
    confusion,
    get_judge,
    ground,
)
from rag.errors import ConfigError
from rag.settings import Settings
from rag.types import Answer, AnswerSentence, Citation


def _words(text):
    return set(re.findall(r"\w+", text.lower()))


class WordJudge:
    """Supported when every word of the claim is in the passage: exact, so counts are by hand."""

    name = "words"

    def __init__(self):
        self.calls = 0

    def supports(self, claim, passage):
        return self.supports_batch([(claim, passage)])[0]

    def supports_batch(self, pairs):
        self.calls += len(pairs)
        return [_words(c) <= _words(p) for c, p in pairs]


P1 = "Judge Venn mediates talks"
P2 = "The strike began Monday"
P3 = "Venn mediates again"

SENTENCES = [
    CitedSentence("Venn mediates", (P1,)),  # supported, 1 precise citation
    # jointly supported; neither passage alone supports it, and neither is redundant: 2 precise
    CitedSentence("Venn mediates strike", (P1, P2)),
    CitedSentence("Venn mediates", (P1, P3)),  # each alone supports it: both precise
    # P1 alone supports it; P2 alone does not and P1 (the rest) still does: P2 irrelevant
    CitedSentence("Venn mediates", (P1, P2)),
    CitedSentence("Tram fares rose", (P2,)),  # not supported: its citation is not precise
    CitedSentence("No citation here", ()),  # uncited: never supported
]


def test_alce_recall_and_precision_by_hand():
    g = ground(SENTENCES, WordJudge())
    assert (g.sentences, g.cited, g.supported) == (6, 5, 4)
    assert g.citations == 1 + 2 + 2 + 2 + 1  # 8
    assert g.precise == 1 + 2 + 2 + 1 + 0  # 6
    assert g.cited_share == pytest.approx(5 / 6)
    assert g.recall == pytest.approx(4 / 6)
    assert g.precision == pytest.approx(6 / 8)
    assert g.unsupported_share == pytest.approx(2 / 6)
    assert [r["supported"] for r in g.rows] == [True, True, True, True, False, False]
    assert [r["precise_citations"] for r in g.rows] == [1, 2, 2, 1, 0, 0]


def test_judging_is_batched_and_only_where_needed():
    judge = WordJudge()
    ground(SENTENCES, judge)
    # 5 joint checks; 3 multi-citation supported sentences x 2 single checks = 6;
    # "rest" checks for the singles that failed: S2 P1, S2 P2, S4 P2 = 3
    assert judge.calls == 5 + 6 + 3


def test_aggregate_macro_and_micro():
    g1 = ground(SENTENCES, WordJudge())
    g2 = ground([CitedSentence("Uncited claim", ())], WordJudge())
    a = aggregate([g1, g2])
    assert a["citation_recall"] == pytest.approx((4 / 6 + 0) / 2)  # macro over answers
    assert a["citation_precision"] == pytest.approx(6 / 8)  # g2 has no citations: left out
    assert a["cited_share"] == pytest.approx((5 / 6 + 0) / 2)
    assert a["micro_citation_recall"] == pytest.approx(4 / 7)
    assert a["micro_citation_precision"] == pytest.approx(6 / 8)
    assert (a["supported_sentences"], a["cited_unsupported_sentences"],
            a["uncited_sentences"]) == (4, 1, 2)


def _citation(n, text):
    return Citation(number=n, chunk_id=f"c{n}", article_id=f"a{n}", title=f"T{n}", source=None,
                    url=None, published=None, passage=text, span_start=0, span_end=len(text))


def test_cited_sentences_maps_numbers_to_passages():
    answer = Answer(
        question="q", text="...",
        citations=(_citation(1, P1), _citation(2, P2)),
        sentences=(AnswerSentence("A.", (1, 2)), AnswerSentence("B.", (2, 9)),
                   AnswerSentence("C.", ()), AnswerSentence("  ", (1,))),
    )
    got = cited_sentences(answer)
    assert got == [CitedSentence("A.", (P1, P2)), CitedSentence("B.", (P2,)),
                   CitedSentence("C.", ())]  # unknown [9] dropped, blank sentence skipped


def test_confusion_and_best_threshold_by_hand():
    c = confusion([True, True, False, False, True], [True, False, False, True, True])
    assert (c["tp"], c["fp"], c["fn"], c["tn"]) == (2, 1, 1, 1)
    assert c["accuracy"] == pytest.approx(3 / 5)
    assert c["precision"] == pytest.approx(2 / 3)
    assert c["recall"] == pytest.approx(2 / 3)
    t, acc = best_threshold([0.1, 0.4, 0.6, 0.9], [False, False, True, True])
    assert t == pytest.approx(0.5) and acc == 1.0


# ---------------------------------------------------------------- the judges' contract

PAIRS = [
    ("Retired judge Judith Venn was named mediator in the transit strike.",
     ("Port Calder's transit authority and the drivers' union agreed on Tuesday to name retired "
     "judge Judith Venn as mediator in the transit strike, now in its third week."), True),
    ("Voltrane recalled 212,000 PowerCell X2 power banks.",
     ("Voltrane Devices said on Friday it is recalling 212,000 PowerCell X2 power banks after "
     "reports that the units can overheat."), True),
    ("Retired judge Judith Venn was named mediator in the transit strike.",
     "The Lumen-1 probe completed its first course correction with a 94-second engine burn.",
     False),
    ("Voltrane recalled 212,000 PowerCell X2 power banks.",
     "Lake Tessaline fell to 31 percent, the lowest level on record, the utility said.", False),
]


class FakeChat(BaseHTTPRequestHandler):
    """Speaks the OpenAI chat format; says yes when the claim's words are in the passage."""

    reply: str | None = None

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert self.path == "/v1/chat/completions"
        prompt = body["messages"][-1]["content"]
        passage = prompt.split("Passage:\n", 1)[1].split("\n\nClaim: ", 1)[0]
        claim = prompt.split("\n\nClaim: ", 1)[1].split("\n\nIs the claim", 1)[0]
        share = len(_words(claim) & _words(passage)) / len(_words(claim))
        content = self.reply or ("Yes." if share >= 0.7 else "No")
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data.encode())

    def log_message(self, *args):
        pass


@pytest.fixture()
def chat_server():
    server = HTTPServer(("127.0.0.1", 0), FakeChat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    FakeChat.reply = None
    server.shutdown()


@pytest.fixture(params=["learned", "llm"])
def judge(request, chat_server):
    settings = Settings(llm_base_url=chat_server, llm_model="fake")
    return get_judge(request.param, settings)


def test_judge_contract(judge):
    got = judge.supports_batch([(c, p) for c, p, _ in PAIRS])
    assert got == [label for _, _, label in PAIRS]
    assert judge.supports(PAIRS[0][0], PAIRS[0][1]) is True
    assert judge.supports_batch([]) == []
    check = check_judge(judge, [CheckPair(c, p, y) for c, p, y in PAIRS])
    assert (check["accuracy"], check["precision"], check["recall"]) == (1.0, 1.0, 1.0)


def test_learned_judge_threshold_is_applied():
    strict = LearnedJudge(threshold=1.01)
    assert strict.supports_batch([(c, p) for c, p, _ in PAIRS[:2]]) == [False, False]
    # at 0 the model accepts anything its vetoes do not refuse: a name or number the passage
    # lacks is refused whatever the threshold
    lenient = LearnedJudge(threshold=0.0)
    assert lenient.supports("The council approved the plan.", "The weather was warm.")
    assert not lenient.supports(PAIRS[2][0], PAIRS[2][1])


def test_llm_judge_errors(chat_server):
    FakeChat.reply = "Maybe, it depends."
    with pytest.raises(JudgeError, match="expected yes or no"):
        LLMJudge(chat_server, "fake").supports("a", "b")
    with pytest.raises(JudgeError, match="failed"):
        LLMJudge("http://127.0.0.1:9/v1", "fake", timeout=2).supports("a", "b")
    with pytest.raises(ConfigError, match="llm_base_url and llm_model"):
        get_judge("llm", Settings())


def test_unknown_and_unconfigured_judges():
    with pytest.raises(ConfigError, match=r"Unknown judge 'oracle'. Valid judges are: \['learned'"):
        get_judge("oracle", Settings())
    with pytest.raises(ConfigError, match="needs judge_model"):
        get_judge("nli", Settings())
