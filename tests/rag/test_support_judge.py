"""The learned support judge (issue 38): a generative answerer citing the right passage for a
false claim never has it shown as sourced, and says why; its true paraphrase is shown. Pinned in
the pipeline's stream, the API (plain and streamed) and `newsrag ask --json`; then the parts:
the opposites list, the hard negatives of each kind, the features, the model file's errors."""
from __future__ import annotations

import json
import random
import re

import pytest
from fastapi.testclient import TestClient

from eval.negatives import KINDS, hard_negatives
from rag.answer_model import ModelFileError
from rag.answerers.openai_compat import OpenAICompatAnswerer
from rag.citations import SupportScorer
from rag.pipeline import NewsRAG
from rag.support_features import OPPOSITES, SUPPORT_FEATURES, read
from rag.support_model import SupportModel
from tests.conftest import AS_OF
from tests.openai_fake import FakeOpenAI

# (question, words of the passage to cite, a true paraphrase, a false claim, why it is false)
CASES = [
    ("How did the Mallowport dockworkers vote on the contract?", "412 to 187",
     "Mallowport dockworkers voted 412 to 187 to accept the new contract deal.",
     "Mallowport dockworkers voted 421 to 187 to accept the new contract deal.", "number 421"),
    ("When will the Orrin tunnel's boring machine start digging?", "boring is due to begin",
     "Boring is due to start in April 2027, after the machine is put together in the pit.",
     "Boring is due to start in November, after the machine is put together in the pit.",
     "november"),
    ("Who spoke for the Mallowport dockworkers' union?", "Declan Furlow",
     "Union secretary Declan Furlow said the deal was fair and members had said so.",
     "Union secretary Brendan Hollow said the deal was fair and members had said so.",
     "name"),
    ("How did the transit board vote on the fare freeze?", "voted 9-0",
     "Port Calder's transit board voted 9-0 for the fare freeze.",
     "Port Calder's transit board voted 6-3 for the fare freeze.", "number"),
    ("What did Hollis Grange think of the commercial water users amendment?", "championed by",
     ("Councillor Hollis Grange championed an amendment making the 20 largest commercial water "
     "users cut consumption by 15%."),
     ("Councillor Hollis Grange opposed an amendment making the 20 largest commercial water "
     "users cut consumption by 15%."), "stance opposed"),
    ("How did the Mallowport dockworkers decide on the contract?", "412 to 187",
     "Members of the Mallowport Dockworkers' Union accepted the new contract deal on Thursday.",
     "Members of the Mallowport Dockworkers' Union rejected the new contract deal on Thursday.",
     "stance rejected"),
    ("How did the Orrin assembly vote on the rail tunnel?", "53 to 26",
     "The Orrin regional assembly voted 53 to 26 on Wednesday to approve the rail tunnel.",
     "The Orrin regional assembly voted unanimously on Wednesday to approve the rail tunnel.",
     "quantifier unanimously"),
    ("Who won the Orrin tunnel contract?", "beat bids from",
     "Brandvik Kessler beat bids from Norrsten Infra for the main civil-works contract.",
     "Norrsten Infra beat bids from Brandvik Kessler for the main civil-works contract.",
     "roles"),
]


def _script(case):
    """The scripted model: the true sentence, then the false one, both citing the passage
    that holds the case's words."""
    def reply(messages):
        user = messages[-1]["content"]
        for m in re.finditer(r"\[(\d+)\][^\n]*\n<<<\n(.+?)\n>>>", user, re.DOTALL):
            if case[1] in m.group(2):
                n = m.group(1)
                return f"{case[2]} [{n}] {case[3]} [{n}]"
        return "The passages do not hold the case's words."
    return reply


@pytest.fixture(scope="module")
def server():
    box = {"case": CASES[0]}
    fake = FakeOpenAI(lambda messages: _script(box["case"])(messages))
    fake.box = box
    yield fake
    fake.close()


def _rag(demo_rag, server):
    return NewsRAG(demo_rag.index, answerer=OpenAICompatAnswerer(server.url, "scripted"))


@pytest.mark.parametrize("case", CASES, ids=[c[4].split()[0] + "-" + str(i)
                                             for i, c in enumerate(CASES)])
def test_a_false_claim_citing_the_right_passage_is_withdrawn_in_the_stream(demo_rag, server,
                                                                           case):
    server.box["case"] = case
    events = list(_rag(demo_rag, server).ask_stream(case[0], as_of=AS_OF))
    final = events[-1]["data"]
    assert "do not hold" not in final["answer"], "the retrieval missed the case's passage"
    shown = [s["text"] for s in final["sentences"] if s["supported"] and s["citations"]]
    assert shown == [case[2]], final["sentences"]
    assert case[3] not in final["answer"]
    withdrawn = [e for e in events if e["event"] == "withdrawn"]
    assert [w["text"] for w in withdrawn] == [case[3]]
    assert final["withdrawn"] == [{"text": case[3], "reasons": withdrawn[0]["reasons"]}]
    assert any(case[4] in r for r in withdrawn[0]["reasons"]), withdrawn[0]["reasons"]


def test_the_api_and_its_stream_withdraw_them_with_reasons(demo_rag, server):
    from tests.ui.test_ui_api import parse_sse
    from ui.server import create_app

    client = TestClient(create_app(demo_rag.settings, _rag(demo_rag, server), chat=False))
    for case in (CASES[1], CASES[4], CASES[7]):
        server.box["case"] = case
        r = client.post("/api/ask", json={"question": case[0], "as_of": AS_OF})
        assert r.status_code == 200, r.text
        data = r.json()
        assert case[3] not in data["answer"] and case[2] in data["answer"]
        assert [w["text"] for w in data["withdrawn"]] == [case[3]]
        assert any(case[4] in x for x in data["withdrawn"][0]["reasons"])
        r = client.post("/api/ask/stream", json={"question": case[0], "as_of": AS_OF})
        events = parse_sse(r.text)
        final = next(d for e, d in events if e == "answer")
        assert case[3] not in final["answer"] and case[2] in final["answer"]
        assert [d["text"] for e, d in events if e == "withdrawn"] == [case[3]]


def test_the_cli_shows_the_reason_in_json(demo_settings, server, capsys, monkeypatch):
    from ui.cli import main

    for case in (CASES[0], CASES[5]):
        server.box["case"] = case
        monkeypatch.setenv("NEWSRAG_LLM_BASE_URL", server.url)
        monkeypatch.setenv("NEWSRAG_LLM_MODEL", "scripted")
        code = main(["--data-dir", str(demo_settings.data_dir), "ask", case[0], "--json",
                     "--as-of", AS_OF, "--answerer", "openai"])
        out = json.loads(capsys.readouterr().out)
        assert code == 0
        assert case[3] not in out["answer"] and case[2] in out["answer"]
        assert out["withdrawn"][0]["text"] == case[3]
        assert any(case[4] in x for x in out["withdrawn"][0]["reasons"])


# ---------------------------------------------------------------- the parts

def test_opposites_read_both_ways():
    for word, opposites in OPPOSITES.items():
        for other in opposites:
            assert word in OPPOSITES[other], (word, other)
    assert {"rejected", "accepted"} <= OPPOSITES["approved"] | {"approved", "accepted"}
    assert "against" in OPPOSITES["for"] and "fell" in OPPOSITES["rose"]


PASSAGE = ("LINDENFORD, 19 November - The Orrin regional assembly voted 53 to 26 on Wednesday "
           "to approve the rail tunnel proposed by Brandvik Kessler. Site clearance is due to "
           "begin in March 2027, and Mayor Ilse Brandt said the city supported the plan.")
CLAIM = ("The Orrin regional assembly voted 53 to 26 on Wednesday to approve the tunnel of "
         "Brandvik Kessler, Mayor Ilse Brandt said.")


def test_hard_negatives_of_every_kind_are_false_against_their_passage():
    made = dict(hard_negatives(CLAIM, PASSAGE, random.Random(1), ["Petra Lund"],
                               published="2026-11-19"))
    assert set(KINDS) - {"date"} <= set(made)
    assert "53" not in made["number"] or "26" not in made["number"]
    assert "Brandt" not in made["name"] or "Brandvik" not in made["name"]
    assert made["stance"] != CLAIM and ("rejected" in made["stance"] or "reject" in made["stance"])
    assert "unanimously" in made["quantifier"] or "all" in made["quantifier"].split()
    dated = dict(hard_negatives("Site clearance is due to begin in March 2027.", PASSAGE,
                                random.Random(1), published="2026-11-19"))
    # the date moves to the dateline's month (November), which the passage gives another event
    assert dated["date"] == "Site clearance is due to begin in November 2027."


def test_the_features_see_a_date_moved_to_the_dateline():
    moved = read("Site clearance is due to begin in November.", PASSAGE.replace(
        "LINDENFORD, 19 November - ", ""), published="2026-11-19")
    feats = dict(zip(SUPPORT_FEATURES, moved.values))
    assert feats["dateline_month_only"] == 1 and feats["date_competes"] == 1
    assert any("november" in r for r in moved.reasons)
    same = dict(zip(SUPPORT_FEATURES, read("Site clearance is due to begin in March 2027.",
                                           PASSAGE).values))
    assert same["date_competes"] == 0 and same["dates_missing"] == 0


def test_a_copied_sentence_with_another_name_of_the_passage_put_in_is_refused():
    passage = ("Ahead of the test flight, Brandvik engineers reworked the rocket's heat shield "
               "with newer tiles. The launch is set for 12 May from a pad leased from Norrsten.")
    copied = "Ahead of the test flight, Norrsten engineers reworked the rocket's heat shield."
    assert "name_replaced Norrsten (the passage: Brandvik)" in read(copied, passage).reasons
    verdict = SupportScorer().score(copied, passage)
    assert not verdict.supported and verdict.conflicts == (
        "name_replaced Norrsten (the passage: Brandvik)",)
    # not a name put in another's place: the same name inflected, a word the passage writes in
    # lower case, a paraphrase that is no copy
    for claim, text in (
            ("Ahead of the test flight, Brandvik's engineers reworked the heat shield.", passage),
            ("The film took home seven Oscars, including Best Picture.",
             "The film took home seven Oscars, including best director. It was best picture."),
            ("Norrsten leased the pad for the launch on 12 May.", passage)):
        assert not any(r.startswith("name_replaced") for r in read(claim, text).reasons), claim


def test_verbatim_sentences_are_always_supported():
    scorer = SupportScorer(threshold=0.999)
    sup = scorer.score("Site clearance is due to begin in March 2027.", PASSAGE)
    assert sup.supported and sup.score == 1.0 and not sup.conflicts


def test_a_missing_or_corrupt_or_stale_model_file_names_make_train(tmp_path):
    with pytest.raises(ModelFileError, match="missing. Rebuild it with `make train`"):
        SupportModel.load(tmp_path / "none.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="cannot be read.*make train"):
        SupportModel.load(tmp_path / "bad.npz")
    model = SupportModel.load()
    model.scorer.features = ("something", "else")
    model.save(tmp_path / "old.npz")
    with pytest.raises(ModelFileError, match="other features than the code computes.*make train"):
        SupportModel.load(tmp_path / "old.npz")


def test_make_train_fits_the_judge_on_a_tiny_set_and_the_same_data_give_the_same_file(tmp_path):
    """The second part of `make train` on our own tiny training set: a file the pipeline
    loads, whose judge accepts the held-out week's true sentences and refuses its hard
    negatives, written byte for byte the same twice; a missing folder is exit 2."""
    from eval.train_answerer import load_questions
    from eval.train_support import build_pairs, cached_chunks, main
    from tests.conftest import FIXTURES

    tiny = FIXTURES / "train_tiny"
    args = ["--train", str(tiny), "--cache", str(tmp_path / "cache"), "--kinds", "logistic",
            "--validation-weeks", "1"]
    assert main(args + ["--out", str(tmp_path / "a.npz")]) == 0
    assert main(args + ["--out", str(tmp_path / "b.npz")]) == 0
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    model = SupportModel.load(tmp_path / "a.npz")
    assert {"number", "unit", "name_invented", "roles"} <= model.vetoes
    questions = load_questions(tiny)
    last = max(q["week"] for q in questions)
    chunks = cached_chunks(tiny, {d for q in questions for d in q["gcs_doc_ids"]},
                           tmp_path / "cache")
    pairs, _ = build_pairs([q for q in questions if q["week"] == last], chunks)
    scorer = SupportScorer(model)
    judged = [(p, scorer.score(p.claim, p.chunk.text, published=p.chunk.published,
                               title=p.chunk.title).supported) for p in pairs]
    assert any(p.kind == "true" for p, _ in judged)
    assert all(ok == p.label for p, ok in judged), [(p.kind, p.claim) for p, ok in judged
                                                    if ok != p.label]
    assert main(["--train", str(tmp_path / "nowhere"), "--out", str(tmp_path / "c.npz")]) == 2
