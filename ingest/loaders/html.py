"""News pages in HTML: trafilatura finds the article body and metadata; dates only from the page."""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from types import ModuleType

from rag.types import Article, Skip, source_from_url

from .common import clean_line, clean_url, fallback_title, normalize_date, one_line, split_authors
from .outlet import find_outlet
from .text import ends_article, meta_line

log = logging.getLogger("newsrag.ingest.html")

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
    """`<meta>` values keyed by lower-cased property/name/itemprop, first one wins; the page's
    <title> and the lines of its header and footer (its chrome) under " title" and " chrome"."""
    import lxml.html

    found: dict[str, str] = {}
    try:
        tree = lxml.html.fromstring(html)
    except (ValueError, TypeError, lxml.etree.ParserError):
        return found
    title = tree.find(".//title")
    if title is not None and title.text_content().strip():
        found[" title"] = one_line(title.text_content())
    found[" chrome"] = "\n".join(
        line for part in tree.iter("header", "footer")
        for line in (clean_line(x) for x in part.text_content().split("\n")) if line)
    found[" lines"] = "\n".join(_block_lines(tree))
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


_BLOCKS = ("p", "div", "li", "span", "time", "address", "h1", "h2", "h3", "h4", "h5", "h6")


def _block_lines(tree) -> Iterator[str]:
    """The text of each innermost block of the page's body, in order (what a reader sees)."""
    body = tree.find(".//body")
    for el in (body if body is not None else tree).iter(*_BLOCKS):
        if not any(child.tag in _BLOCKS[:3] for child in el.iterdescendants()):
            line = one_line(el.text_content())
            if line:
                yield line


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


_HOST = r"[\w-]+(\.[\w-]+)+"


def _site_name(name: str | None) -> str | None:
    """The site's name; a bare host ("www.x.com") is normalised like `source_from_url` does."""
    if name and re.fullmatch(_HOST, name.strip()):
        return source_from_url("https://" + name.strip())
    return name


def _lead_meta(body: str) -> tuple[str, str | None, tuple[str, ...]]:
    """The body without the byline and date lines the page shows above the article ("By Rory
    Tanaka | Published Tuesday, November 17, 2026"), and the date and authors they give."""
    paras = body.split("\n\n")
    published, authors, kept = None, (), []
    for i, para in enumerate(paras):
        meta = meta_line(para) if i < 4 else None
        if meta is None:
            kept.append(para)
            continue
        published = published or meta.published or meta.updated
        authors = authors or meta.authors
    return "\n\n".join(kept), published, authors


def _meta_above(lines: str, body: str) -> tuple[str | None, tuple[str, ...]]:
    """The date and authors of a byline line the page shows above the article's first paragraph
    that the main-text extraction left out."""
    first = body.split("\n\n")[0][:60]
    for line in lines.split("\n"):
        if first and line.startswith(first):
            break
        if len(line.split()) <= 20 and (meta := meta_line(line)) is not None:
            return meta.published or meta.updated, meta.authors
    return None, ()


def _without_trailing_chrome(body: str) -> str:
    """The body up to a "Most read" or "Related stories" list, as the scraped-text loader cuts."""
    paras = body.split("\n\n")
    for i, para in enumerate(paras[1:], start=1):
        if ends_article(para):
            return "\n\n".join(paras[:i])
    return body


def _outlet(meta: dict[str, str], title: str, body: str) -> str | None:
    """The outlet the page names in its chrome: its <title>'s site suffix ("Headline - Kelso
    Weekly Gazette") or its footer's © line (ingest/loaders/outlet.py)."""
    chrome = [line for line in (meta.get(" title", ""), *meta.get(" chrome", "").split("\n"))
              if line]
    return find_outlet(chrome, [], body.split("\n\n")[-3:], title or None)


def _source(site: str | None, meta: dict[str, str], title: str, body: str) -> str | None:
    """The page's site name; when it gives only a host (or none), the name its chrome shows."""
    if site and not re.fullmatch(_HOST, site.strip()):
        return site
    return _outlet(meta, title, body) or _site_name(site)


_LOREM = frozenset(
    ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do", "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua", "enim", "ad", "minim", "veniam", "quis", "nostrud", "exercitation", "ullamco", "laboris", "nisi", "aliquip", "ex", "ea", "commodo", "consequat", "duis", "aute", "irure", "in", "reprehenderit", "voluptate", "velit", "esse", "cillum", "eu", "fugiat", "nulla", "pariatur", "excepteur", "sint", "occaecat", "cupidatat", "non", "proident", "sunt", "culpa", "qui", "officia", "deserunt", "mollit", "anim", "id", "est", "laborum"])


def _placeholder(body: str) -> bool:
    """Lorem ipsum: a template's filler, not news."""
    words = re.findall(r"[a-z]+", body.lower())
    return "lorem" in words and sum(w in _LOREM for w in words) >= 0.3 * len(words)


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
    body, shown_date, shown_authors = _lead_meta(_paragraphs(doc.text, title))
    above_date, above_authors = _meta_above(meta.get(" lines", ""), body)
    shown_date, shown_authors = shown_date or above_date, shown_authors or above_authors
    body = _without_trailing_chrome(body)
    if not _is_article(body):
        yield Skip(origin, "no article", f"only {len(body.split())} words of main text")
        return
    if _placeholder(body):
        yield Skip(origin, "no article", "placeholder text (lorem ipsum), not news")
        return
    published = _published(meta, doc.date) or shown_date
    if published is None:
        log.warning("%s: no publication date found (no date meta tag, no 'Published ...' line): "
                    "questions about 'last week' or 'latest' will not find it", origin)
    yield Article.create(
        title=title or fallback_title(body),
        text=body,
        url=clean_url(doc.url) or clean_url(meta.get("og:url")),
        source=_source(doc.sitename or meta.get("og:site_name"), meta, title, body),
        authors=split_authors(doc.author) or shown_authors,
        published=published,
        origin=origin,
    )
