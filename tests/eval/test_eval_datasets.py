"""Dataset loaders (generic JSONL, RealTime QA, MultiHop-RAG) and the eval index's cache key."""
import json
import os
import re
from pathlib import Path

import pytest

from eval import metrics as M
from eval.datasets import (
    DatasetError,
    eval_settings,
    index_key,
    load_dataset,
    load_jsonl,
    load_multihop,
    load_realtimeqa,
    strip_quotes,
    url_article_id,
)
from rag.settings import Settings
from rag.types import Article

SHARED = Path(os.environ.get("NEWSRAG_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared"
                             / "data"))
RTQA = SHARED / "realtimeqa"
MULTIHOP = SHARED / "multihop_rag"


def _write(path: Path, records: list) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", "utf-8")
    return path


def test_generic_jsonl(tmp_path):
    q = _write(tmp_path / "q.jsonl", [
        {"id": "q1", "question": " Who mediates? ", "answers": ["Judith Venn"],
         "gold_doc_ids": ["doc-7"], "gold_evidence": ["Venn was named mediator."],
         "as_of": "2026/11/24", "extra": 1},
        {"question": "Which show?", "choices": ["Friends", "Squid Game"], "answer_index": 1,
         "gold_titles": ["Squid Game returns"]},
    ])
    ds = load_jsonl(q, tmp_path)
    a, b = ds.questions
    assert (a.id, a.question, a.answers, a.gold_doc_ids, a.as_of) == (
        "q1", "Who mediates?", ("Judith Venn",), ("doc-7",), "2026-11-24")
    assert a.gold_evidence == ("Venn was named mediator.",) and a.meta == {"extra": 1}
    # the line number is the id when none is given; answers default to the gold choices
    assert (b.id, b.answer_index, b.answers, b.gold_titles) == (
        "2", (1,), ("Squid Game",), ("Squid Game returns",))
    assert b.has_doc_gold and ds.corpus == tmp_path
    assert ds.limit(1).questions == (a,)


@pytest.mark.parametrize("record, message", [
    ({"answers": ["x"]}, "'question' must be a non-empty string"),
    ({"question": "q", "choices": ["a", "b"], "answer_index": 2}, r"answer_index \[2\] outside"),
    ({"question": "q", "answer_index": 0}, "outside the 0 choices"),
    ({"question": "q", "answers": [{"x": 1}]}, "'answers' must be a list of strings"),
    ({"question": "q", "as_of": "next week"}, "Cannot read the date 'next week'"),
])
def test_generic_jsonl_errors(tmp_path, record, message):
    q = _write(tmp_path / "q.jsonl", [record])
    with pytest.raises(DatasetError, match=message):
        load_jsonl(q)


def test_unreadable_files(tmp_path):
    with pytest.raises(DatasetError, match="No such question file"):
        load_jsonl(tmp_path / "missing.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"question": "ok"}\n{oops\n')
    with pytest.raises(DatasetError, match="line 2: not JSON"):
        load_jsonl(tmp_path / "bad.jsonl")
    with pytest.raises(DatasetError, match=r"Unknown dataset 'squad'. Valid datasets are: \["):
        load_dataset("squad", tmp_path / "bad.jsonl")


RTQA_RECORD = {
    "question_id": "20220617_0", "week": "20220617", "question_date": "2022/06/16",
    "source": "CNN", "question": "Which wildly popular show was recently green lit?",
    "choices": ["“Game of Thrones”", "“Squid Game”", "“Breaking Bad”", "“Friends”"],
    "answer_index": [1], "answer": ["“Squid Game”"],
    "evidence_text": "Netflix announced “Squid Game“ is coming back for a second season.",
    "evidence_urls": ["https://example.com/x"], "gold_doc_ids": ["rtqa-cf8dcb23df1f"],
    "gcs_doc_ids": ["rtqa-cf8dcb23df1f"],
}


def test_realtimeqa_record(tmp_path):
    no_gold = dict(RTQA_RECORD, question_id="20220617_1", gold_doc_ids=[])
    ds = load_realtimeqa(_write(tmp_path / "q.jsonl", [RTQA_RECORD, no_gold]), None)
    q, q2 = ds.questions
    assert q.answers == ("Squid Game",)  # curly quotes stripped
    assert q.choices[1] == "Squid Game" and q.answer_index == (1,)
    assert q.as_of == "2022-06-16"
    assert q.gold_doc_ids == ("rtqa-cf8dcb23df1f",)
    assert q.gold_evidence == (RTQA_RECORD["evidence_text"],)
    # without a gold document in the corpus its evidence is no passage-level target
    assert q2.gold_evidence == () and not q2.has_doc_gold
    assert q2.meta["evidence_text"] == RTQA_RECORD["evidence_text"]
    bad = _write(tmp_path / "bad.jsonl", [{"question": "q"}])
    with pytest.raises(DatasetError, match="not a RealTime QA record"):
        load_realtimeqa(bad, None)


def test_strip_quotes():
    assert strip_quotes(" “Squid Game” ") == "Squid Game"
    assert strip_quotes('"Top Gun: Maverick"') == "Top Gun: Maverick"
    assert strip_quotes("‘Elvis’") == "Elvis"


@pytest.mark.skipif(not (RTQA / "questions_dev.jsonl").exists(), reason="shared data absent")
def test_realtimeqa_dev_file():
    ds = load_dataset("realtimeqa", RTQA / "questions_dev.jsonl", RTQA / "corpus.jsonl.gz")
    assert len(ds.questions) == 329
    assert sum(q.has_doc_gold for q in ds.questions) == 103
    assert all(len(q.choices) >= 2 and q.answer_index for q in ds.questions)  # 2, 4 or 5
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", q.as_of) for q in ds.questions)
    assert not any(a[:1] in "“\"" for q in ds.questions for a in q.answers)


@pytest.mark.skipif(not (MULTIHOP / "queries_500.jsonl").exists(), reason="shared data absent")
def test_multihop_queries():
    ds = load_multihop(MULTIHOP / "queries_500.jsonl")
    assert len(ds.questions) == 500 and ds.corpus is None
    null = [q for q in ds.questions if q.kind == "null_query"]
    assert null and all(q.unanswerable and not q.gold_evidence for q in null)
    rest = [q for q in ds.questions if q.kind != "null_query"]
    assert all(q.gold_evidence and q.gold_doc_ids and not q.unanswerable for q in rest)
    assert all(u.startswith("http") for q in rest for u in q.gold_doc_ids)
    assert {q.kind for q in ds.questions} == {
        "inference_query", "comparison_query", "temporal_query", "null_query"}


@pytest.mark.skipif(
    not (MULTIHOP / "official_sample_llm-embedder_retrieval_test.json").exists(),
    reason="shared data absent")
def test_fact_rule_agrees_with_the_official_multihop_scoring():
    """The benchmark's own rule: a gold fact, spaces and newlines removed, is a substring."""
    sample = json.loads(
        (MULTIHOP / "official_sample_llm-embedder_retrieval_test.json").read_text("utf-8"))
    hits = agree = 0
    for item in sample:
        facts = [g["fact"] for g in item["gold_list"]]
        for chunk in item["retrieval_list"]:
            official = any(re.sub(r"\s", "", f) in re.sub(r"\s", "", chunk["text"]) for f in facts)
            ours = bool(M.facts_in(chunk["text"], facts))
            hits += official
            agree += official == ours
    assert hits > 10 and agree == sum(len(i["retrieval_list"]) for i in sample)


def test_index_key_follows_corpus_and_settings(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"title": "t", "text": "x"}\n')
    s = Settings(data_dir=tmp_path / "data")
    key = index_key(corpus, s)
    assert key == index_key(corpus, s)
    assert key != index_key(corpus, s.replace(chunk_tokens=300))
    assert key != index_key(corpus, s.replace(embedder="minilm-int8"))
    assert key == index_key(corpus, s.replace(top_k=3, answerer="openai"))  # not index settings
    os.utime(corpus, ns=(1, 1))
    assert key == index_key(corpus, s)  # touched, same bytes: the index is reused
    copy = tmp_path / "copy" / "corpus.jsonl"
    copy.parent.mkdir()
    copy.write_bytes(corpus.read_bytes())
    assert key == index_key(copy, s)  # provisioned elsewhere, same bytes
    corpus.write_text('{"title": "t", "text": "y"}\n')  # same size, other bytes
    assert key != index_key(corpus, s)
    folder_key = index_key(tmp_path, s)
    (tmp_path / "more.txt").write_text("news")
    assert folder_key != index_key(tmp_path, s)
    es = eval_settings(corpus, s)
    assert es.data_dir == tmp_path / "data" / "eval" / index_key(corpus, s)
    assert es.chroma_url is None
    with pytest.raises(DatasetError, match="No such corpus"):
        index_key(tmp_path / "nope", s)


def test_url_article_id_matches_newsrag_ids():
    url = "https://Example.com/story/1/?utm_source=x#top"
    art = Article.create(title="t", text="x", url=url)
    assert url_article_id(url) == art.id
    assert url_article_id("not a url") is None
