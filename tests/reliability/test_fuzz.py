"""A short run of harness/fuzz.py: hostile files never crash a loader, and a sample ingests cleanly."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from harness.fuzz import FAMILIES, Case, Tally, check_one, fuzz_ingest


@pytest.mark.parametrize("family", list(FAMILIES))
def test_hostile_files_give_articles_or_skips_with_reasons(family, tmp_path):
    tally = Tally()
    examples = 3 if family == "giant lines" else 25

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(FAMILIES[family])
    def run(case: Case) -> None:
        check_one(case, tmp_path, tally, limit=60)

    run()
    assert tally.inputs >= examples // 2
    assert tally.failures == []


def test_a_sample_of_hostile_files_ingests_with_a_reason_for_every_skip(tmp_path, embedder):
    tally = Tally()
    for family, strategy in FAMILIES.items():
        if family == "giant lines":
            continue

        @settings(max_examples=4, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def run(case: Case) -> None:
            check_one(case, tmp_path, tally, limit=60)

        run()
    result = fuzz_ingest(tally.kept, Path(tmp_path) / "idx", sample=20, seed_=1,
                         embedder=embedder)
    assert result["skips_without_reason"] == 0
    assert result["files_without_article_or_skip"] == []
    assert result["consistent"] and result["good_articles_kept"]
    assert result["second_run_chunks"] == 0


def test_tag_soup_that_trips_trafilatura_is_skipped_not_a_crash():
    """Found by harness/fuzz.py: htmldate (trafilatura's date finder) fails an lxml assertion on
    this page. The body is then extracted without trafilatura's metadata: this page has none
    worth keeping, so it is one Skip for want of an article, not an internal error."""
    from ingest.loaders import load_file
    from rag.types import Skip

    items = list(load_file(Path(__file__).parent / "inputs" / "tag_soup_htmldate_assertion.htm"))
    assert len(items) == 1 and isinstance(items[0], Skip)
    assert items[0].reason == "no article"


def test_an_article_whose_metadata_trips_trafilatura_is_kept(monkeypatch):
    """When trafilatura's metadata pass fails that way, the article and the page's own date
    are still kept."""
    import trafilatura

    from ingest.loaders.html import load_html
    from rag.types import Article

    real = trafilatura.bare_extraction

    def failing(html, **kw):
        if kw.get("with_metadata"):
            raise AssertionError  # as lxml's drop_tree does under htmldate
        return real(html, **kw)

    monkeypatch.setattr(trafilatura, "bare_extraction", failing)
    body = "".join(f"<p>The Alderford harbour council voted {i} to one to approve the ferry "
                   "budget after a long debate about wages and tunnel repairs.</p>"
                   for i in range(6))
    page = ("<html><head><meta property='article:published_time' content='2026-11-02T08:00:00Z'>"
            f"<title>Alderford votes</title></head><body><article>{body}</article></body></html>")
    (art,) = load_html(page, "page.html")
    assert isinstance(art, Article) and "ferry budget" in art.text
    assert art.published.startswith("2026-11-02")


def test_a_file_that_yields_nothing_is_reported_as_skipped(tmp_path, make_settings, embedder):
    """Found by harness/fuzz.py: a CSV with only its header gave neither an article nor a skip."""
    from ingest.run import ingest
    from rag.index import Index

    (tmp_path / "empty.csv").write_text("title,text\n")
    index = Index.open(make_settings(), embedder)
    report = ingest(index, [tmp_path / "empty.csv"])
    index.close()
    assert report.skipped == {"no article": 1}
    assert report.skips[0].detail == "the file holds no records"
