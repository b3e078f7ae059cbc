"""News pages in HTML: trafilatura finds the article body and metadata; dates only from the page."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from types import ModuleType

from rag.types import Article, Skip, source_from_url

from .common import clean_line, clean_url, fallback_title, normalize_date, one_line, split_authors

# Below this many words in real sentences, what is left is a menu or an error page.
MIN_ARTICLE_WORDS = 25

# Page metadata that states when the article was published, best first; each may be a datetime.
_DATE_META = (
    "article:published_time", "og:article:published_time", "datepublished",
    "parsely-pub-date", "sailthru.date", "dc.date.issued", "dcterms.issued", "pubdate",
    "publishdate", "publish-date", "publication_date", "dc.date", "date",
)


def _trafilatura() -> ModuleType:
    try:
        import trafilatura
    except ImportError as exc:  # lxml_html_clean missing is the usual cause
        raise ImportError(
            f"HTML loading needs trafilatura and lxml_html_clean ({exc}); "
            "install them with: pip install trafilatura lxml_html_clean"
        ) from exc
    return trafilatura


def _page_meta(html: str) -> dict[str, str]:
    """`<meta>` values keyed by lower-cased property/name/itemprop, first one wins."""
    import lxml.html

    found: dict[str, str] = {}
    try:
        tree = lxml.html.fromstring(html)
    except (ValueError, TypeError, lxml.etree.ParserError):
        return found
    for meta in tree.iter("meta"):
        key = meta.get("property") or meta.get("name") or meta.get("itemprop")
        value = meta.get("content")
        if key and value and key.lower() not in found:
            found[key.lower()] = value.strip()
    for script in tree.iter("script"):
        if (script.get("type") or "").lower() == "application/ld+json" and script.text:
            published = _ld_published(script.text)
            if published:
                found.setdefault("datepublished", published)
    return found


def _ld_published(raw: str) -> str | None:
    """`datePublished` from a JSON-LD block (an object, a list, or an @graph)."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    stack = [data]
    for _ in range(200):  # bounded: JSON-LD of a page is small; no recursion into odd input
        if not stack:
            break
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            value = item.get("datePublished")
            if isinstance(value, str):
                return value
            if isinstance(item.get("@graph"), list):
                stack.extend(item["@graph"])
    return None


def _published(meta: dict[str, str], extracted: str | None) -> str | None:
    """The page's own publication date, preferring the full datetime of its metadata."""
    for key in _DATE_META:
        found = normalize_date(meta.get(key))
        if found:
            return found
    # trafilatura's date with extensive search off comes from markup, not from the URL or guesses.
    return normalize_date(extracted)


def _paragraphs(text: str, title: str) -> str:
    lines = [clean_line(line) for line in text.split("\n")]
    lines = [line for line in lines if re.search(r"\w", line)]
    if lines and title and lines[0] == title:
        lines = lines[1:]  # trafilatura repeats the headline as the first line
    return "\n\n".join(lines)


def _site_name(name: str | None) -> str | None:
    """The site's name; a bare host ("www.x.com") is normalised like `source_from_url` does."""
    if name and re.fullmatch(r"[\w-]+(\.[\w-]+)+", name.strip()):
        return source_from_url("https://" + name.strip())
    return name


def _is_article(body: str) -> bool:
    words = sum(len(p.split()) for p in body.split("\n\n") if len(p.split()) >= 6)
    return words >= MIN_ARTICLE_WORDS


def _extract(trafilatura: ModuleType, html: str, with_metadata: bool):
    return trafilatura.bare_extraction(
        html,
        with_metadata=with_metadata,
        include_comments=False,
        include_tables=True,
        date_extraction_params={"extensive_search": False, "original_date": True},
    )


def load_html(html: str, origin: str) -> Iterator[Article | Skip]:
    """One article from a news page, or a Skip "no article" when the page has no article body."""
    trafilatura = _trafilatura()
    # A declared encoding is meaningless in an already decoded str, and lxml refuses it.
    html = re.sub(r"^\s*<\?xml[^>]*\?>", "", html)
    try:
        doc = _extract(trafilatura, html, with_metadata=True)
    except AssertionError:
        # htmldate, trafilatura's date finder, fails an lxml assertion on some tag soup
        # (tests/reliability/inputs): the body can still be had without its metadata, and the
        # page's own meta tags still give the date, outlet and link
        doc = _extract(trafilatura, html, with_metadata=False)
    if doc is None or not doc.text:
        yield Skip(origin, "no article", "no main text found in the page")
        return
    meta = _page_meta(html)
    title = one_line(doc.title or meta.get("og:title") or "")
    body = _paragraphs(doc.text, title)
    if not _is_article(body):
        yield Skip(origin, "no article", f"only {len(body.split())} words of main text")
        return
    yield Article.create(
        title=title or fallback_title(body),
        text=body,
        url=clean_url(doc.url) or clean_url(meta.get("og:url")),
        source=_site_name(doc.sitename or meta.get("og:site_name")),
        authors=split_authors(doc.author),
        published=_published(meta, doc.date),
        origin=origin,
    )
