"""End to end on a real index of the demo corpus: retrieval gold through dedup, the run, and
grounding that ranks an answerer citing random passages clearly below the real one."""
import random
from dataclasses import replace
from pathlib import Path

import pytest

from eval.cli import evaluate
from eval.datasets import (
    gold_doc_units,
    load_jsonl,
    open_eval_index,
    stored_articles_for,
    stored_articles_titled,
)
from eval.report import write_report
from rag.settings import Settings
from rag.types import Citation

pytestmark = pytest.mark.slow

DEMO = Path(__file__).resolve().parents[2] / "demo"
SYNDICATED_URL = "https://metrodailypost.example/news/2026/10/05/port-calder-buses-trams-halt-drivers-strike"
WIRE_URL = ("https://northernwire.example/story/2026/10/05/"
            "port-calder-buses-and-trams-halt-as-drivers-begin-strike")


@pytest.fixture(scope="session")
def demo_settings(tmp_path_factory):
    """The demo corpus indexed once per session, where `evaluate` will find and reuse it."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("newsrag"))
    index, report = open_eval_index(DEMO / "corpus", settings)
    index.close()
    assert report.ingested == 36 and sum(report.duplicates.values()) == 1
    return settings


@pytest.fixture(scope="session")
def demo_dataset():
    return load_jsonl(DEMO / "questions.jsonl", DEMO / "corpus")


@pytest.fixture(scope="session")
def real_run(demo_settings, demo_dataset):
    return evaluate(demo_dataset, demo_settings, progress=False)


def test_gold_documents_resolve_through_dedup(demo_settings):
    index, _ = open_eval_index(DEMO / "corpus", demo_settings)
    try:
        catalog = index.catalog
        stored = stored_articles_for(catalog, WIRE_URL)
        # the syndicated copy was not stored: its URL stands for the wire story's article
        assert len(stored) == 1 and stored_articles_for(catalog, SYNDICATED_URL) == stored
        title = "Port Calder buses and trams halt as drivers begin strike"
        assert stored_articles_titled(catalog, title) == stored
        assert stored_articles_for(catalog, "https://nowhere.example/x") == set()
        q = load_jsonl(DEMO / "questions.jsonl").questions[0]
        q = replace(q, gold_titles=(title,), gold_doc_ids=(SYNDICATED_URL, "missing-doc"))
        # two gold documents stored as one article are one unit; a missing one stays, empty
        assert gold_doc_units(catalog, q) == [frozenset(stored), frozenset()]
    finally:
        index.close()


def test_demo_run(real_run, tmp_path):
    m = real_run["metrics"]
    assert real_run["index"]["reused"] and real_run["index"]["articles"] == 36
    assert m["retrieval_doc"]["questions"] == 41
    assert m["retrieval_doc"]["recall@10"] >= 0.8
    assert m["answers"]["contains_gold"] >= 0.5
    assert m["judge_check"]["pairs"] == 0  # the demo questions give no gold evidence
    paths = write_report(real_run, tmp_path / "demo")
    assert all(p.stat().st_size > 0 for p in paths)


def random_citations(seed: int = 7):
    """A deliberately bad answerer: the real answer, each citation swapped for a random passage
    of an article the real answer did not cite."""
    rng = random.Random(seed)

    def transform(answer, rag):
        if answer.abstained:
            return answer
        cited = {c.article_id for c in answer.citations}
        catalog = rag.index.catalog
        chunks = catalog.chunks_by_ids(sorted(catalog.all_chunk_ids()))
        pool = [(c.id, c.article_id, c.text) for _, c in sorted(chunks.items())
                if c.article_id not in cited]
        sentences, citations = [], []
        for s in answer.sentences:
            numbers = []
            for _ in s.citations:
                chunk_id, article_id, text = rng.choice(pool)
                citations.append(Citation(len(citations) + 1, chunk_id, article_id, "", None,
                                          None, None, text, 0, len(text)))
                numbers.append(len(citations))
            sentences.append(replace(s, citations=tuple(numbers)))
        return replace(answer, sentences=tuple(sentences), citations=tuple(citations))

    return transform


def test_grounding_ranks_random_citations_far_below(real_run, demo_settings, demo_dataset):
    bad_run = evaluate(demo_dataset, demo_settings, progress=False,
                       transform_answer=random_citations())
    real, bad = real_run["metrics"]["grounding"], bad_run["metrics"]["grounding"]
    assert real["answers"] == bad["answers"] >= 10
    assert real["cited_share"] == bad["cited_share"]  # same sentences, same number of citations
    assert real["citation_recall"] >= 0.9
    assert real["citation_precision"] >= 0.9
    assert bad["citation_recall"] <= real["citation_recall"] - 0.5
    assert bad["citation_precision"] <= real["citation_precision"] - 0.5
    assert bad["unsupported_share"] >= 0.5
