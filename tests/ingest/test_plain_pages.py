"""A plain news page (no og: tags) keeps its metadata: the byline, the visible date, the title's
site suffix; its "Most read" list stays out; a lorem-ipsum page is no article; a page without a
date is warned about (issue 39)."""
from __future__ import annotations

import logging
from pathlib import Path

from ingest.loaders import load_file
from rag.types import Article, Skip
from ui.cli import main

PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "plain_pages"
KELSO = PAGES / "kelso-library.html"


def only(path: Path) -> Article | Skip:
    (item,) = list(load_file(path))
    return item


def test_a_plain_page_keeps_its_byline_date_and_outlet() -> None:
    article = only(KELSO)
    assert isinstance(article, Article)
    assert article.title == "Kelso library extension opens after two years of building work"
    assert article.source == "Kelso Weekly Gazette"  # the <title>'s " - Site" suffix
    assert article.authors == ("Rory Tanaka",)
    assert article.published == "2026-11-17"  # "Published Tuesday, November 17, 2026"
    assert article.text.startswith("The new wing of Kelso Public Library opened")
    assert "By Rory Tanaka" not in article.text and "Published" not in article.text
    assert article.text.endswith("longer opening hours from the spring.")
    assert "Most read" not in article.text and "rugby" not in article.text


def test_a_byline_the_extraction_leaves_out_is_still_read(tmp_path: Path) -> None:
    """The byline in a <div> of its own (not in the main text), a canonical link: the URL, the
    author, the date, and the outlet from the title rather than the link's host."""
    page = KELSO.read_text("utf-8").replace(
        '<link rel="stylesheet"',
        '<link rel="canonical" href="https://kelsogazette.example/news/library">\n'
        '<link rel="stylesheet"').replace(
        "<p>By Rory Tanaka | Published Tuesday, November 17, 2026</p>",
        '<div class="meta">By Rory Tanaka | Published Tuesday, November 17, 2026</div>')
    path = tmp_path / "library.html"
    path.write_text(page, "utf-8")
    article = only(path)
    assert isinstance(article, Article)
    assert article.url == "https://kelsogazette.example/news/library"
    assert (article.source, article.authors, article.published) == (
        "Kelso Weekly Gazette", ("Rory Tanaka",), "2026-11-17")


def test_a_lorem_ipsum_home_page_is_no_article() -> None:
    skip = only(PAGES / "home.html")
    assert isinstance(skip, Skip)
    assert skip.reason == "no article" and "lorem ipsum" in skip.detail


def test_a_page_without_a_date_is_warned_about(tmp_path: Path, capsys, caplog) -> None:
    undated = tmp_path / "pages" / "undated.html"
    undated.parent.mkdir()
    undated.write_text(KELSO.read_text("utf-8").replace(
        " | Published Tuesday, November 17, 2026", ""), "utf-8")
    with caplog.at_level(logging.WARNING, logger="newsrag"):
        article = only(undated)
    assert isinstance(article, Article) and article.published is None
    assert article.authors == ("Rory Tanaka",)
    assert any("undated.html" in r.getMessage() and "no publication date" in r.getMessage()
               for r in caplog.records)
    # and the CLI says so on stderr, beside the summary
    code = main(["ingest", str(undated.parent), "--data-dir", str(tmp_path / "idx"),
                 "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0 and "ingested 1" in out
    assert "no publication date" in err and "undated.html" in err


def test_the_dated_page_is_not_warned_about(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="newsrag"):
        only(KELSO)
    assert not [r for r in caplog.records if "no publication date" in r.getMessage()]
