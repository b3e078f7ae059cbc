"""What a watched URL holds: a feed (RSS 2.0, RSS 1.0, Atom, JSON Feed), a sitemap, or a page."""
from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import urljoin

from ingest.loaders.common import (
    SkipInput,
    clean_url,
    fallback_title,
    html_to_paragraphs,
    normalize_date,
    one_line,
    split_authors,
    text_or_html,
)
from ingest.loaders.feeds import (
    _article,
    _child_text,
    _children,
    _feed_name,
    _items,
    _link,
    parse_feed,
)
from ingest.loaders.feeds import _local as local
from rag.types import Article

# A feed's own text stands in for an unreachable page only when it is an article body: this
# many words in sentences of six words or more, not a one-line summary.
MIN_BODY_WORDS = 80
MAX_CHILD_SITEMAPS = 50


@dataclass(frozen=True)
class FeedItem:
    link: str | None  # the page to fetch
    guid: str | None = None
    title: str | None = None
    published: str | None = None  # as the feed states it (ISO 8601), never guessed
    version: str = ""  # changes when the feed says the item changed
    fallback: Article | None = None  # the feed's own text, when it is a real article body


@dataclass
class SourceDoc:
    kind: str  # rss | rdf | atom | jsonfeed | sitemap | sitemapindex | page
    title: str | None = None
    items: list[FeedItem] = field(default_factory=list)
    children: list[str] = field(default_factory=list)  # sitemaps listed by a sitemap index


def real_body(text: str) -> bool:
    words = sum(len(s.split()) for s in re.split(r"(?<=[.!?])\s+|\n+", text)
                if len(s.split()) >= 6)
    return words >= MIN_BODY_WORDS


def _version(*parts: object) -> str:
    return hashlib.sha1("\x1f".join(str(p or "") for p in parts).encode()).hexdigest()[:16]


def parse_source(text: str, url: str, content_type: str = "") -> SourceDoc:
    """The document at `url`; raises SkipInput("malformed feed", ...) for a broken one."""
    head = text.lstrip()[:1000].lower()
    ctype = content_type.split(";")[0].strip().lower()
    if head.startswith(("{", "[")) or ctype in ("application/feed+json", "application/json"):
        return _json_feed(text, url)
    if head.startswith("<!doctype html") or re.search(r"<html[\s>]", head) or ctype in (
            "text/html", "application/xhtml+xml"):
        return SourceDoc("page", items=[FeedItem(link=url, version="")])
    if not head.startswith("<"):
        raise SkipInput("malformed feed", "neither XML, JSON nor HTML")
    root = parse_feed(text)
    kind = local(root.tag)
    if kind in ("urlset", "sitemapindex"):
        return _sitemap(root, url, kind)
    try:
        entries = _items(root)
    except RecursionError:
        raise SkipInput("malformed feed", "nested too deeply") from None
    site = _feed_name(root)
    doc = SourceDoc({"rss": "rss", "rdf": "rdf", "feed": "atom"}[kind], title=site)
    for n, entry in enumerate(entries, 1):
        doc.items.append(_xml_item(entry, url, f"{url}#{n}", site))
    return doc


def _xml_item(entry: ET.Element, base: str, origin: str, site: str | None) -> FeedItem:
    link = _link(entry)
    link = urljoin(base, link) if link else None
    guid = _child_text(entry, "guid", "id")
    title = one_line(_child_text(entry, "title") or "") or None
    published = None
    for name in ("pubdate", "published", "date", "issued", "updated", "modified"):
        published = normalize_date(_child_text(entry, name))
        if published:
            break
    updated = _child_text(entry, "updated", "modified") or ""
    found = _article(entry, origin, site)
    fallback = None
    if isinstance(found, Article) and real_body(found.text):
        fallback = found if found.url or not link else _with_url(found, link)
    summary = found.content_hash if isinstance(found, Article) else ""
    return FeedItem(link=link, guid=guid, title=title, published=published,
                    version=_version(title, published, updated, summary), fallback=fallback)


def _with_url(art: Article, url: str) -> Article:
    return Article.create(title=art.title, text=art.text, url=url, source=art.source,
                          authors=art.authors, published=art.published, origin=art.origin,
                          external_id=art.external_id)


def _sitemap(root: ET.Element, url: str, kind: str) -> SourceDoc:
    doc = SourceDoc("sitemap" if kind == "urlset" else kind)
    if kind == "sitemapindex":
        for entry in _children(root, "sitemap")[:MAX_CHILD_SITEMAPS]:
            loc = _child_text(entry, "loc")
            if loc:
                doc.children.append(urljoin(url, loc.strip()))
        return doc
    for entry in _children(root, "url"):
        loc = _child_text(entry, "loc")
        if not loc:
            continue
        news = next((c for c in entry if local(c.tag) == "news"), None)
        title = one_line(_child_text(news, "title") or "") if news is not None else ""
        published = normalize_date(_child_text(news, "publication_date")) if news is not None \
            else None
        lastmod = _child_text(entry, "lastmod") or ""
        doc.items.append(FeedItem(link=urljoin(url, loc.strip()), title=title or None,
                                  published=published, version=_version(title, published, lastmod)))
    return doc


def _json_feed(text: str, url: str) -> SourceDoc:
    """JSON Feed 1.0 / 1.1 (https://jsonfeed.org/version/1.1)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise SkipInput("malformed feed", f"JSON error: {e}") from None
    if not isinstance(data, dict) or "jsonfeed.org" not in str(data.get("version", "")):
        raise SkipInput("malformed feed", "JSON, but not a JSON Feed (no jsonfeed.org version)")
    site = one_line(str(data.get("title") or "")) or None
    doc = SourceDoc("jsonfeed", title=site)
    items = data.get("items")
    if not isinstance(items, list):
        raise SkipInput("malformed feed", "a JSON Feed without an items list")
    for n, item in enumerate(items, 1):
        if isinstance(item, dict):
            doc.items.append(_json_item(item, url, f"{url}#{n}", site))
    return doc


def _json_item(item: dict, base: str, origin: str, site: str | None) -> FeedItem:
    raw = item.get("url") or item.get("external_url")
    link = clean_url(urljoin(base, raw)) if isinstance(raw, str) else None
    guid = str(item["id"]) if item.get("id") is not None else None
    title = one_line(str(item.get("title") or "")) or None
    published = normalize_date(item.get("date_published"))
    modified = str(item.get("date_modified") or "")
    body = ""
    if isinstance(item.get("content_html"), str):
        body = html_to_paragraphs(item["content_html"])
    if not body and isinstance(item.get("content_text"), str):
        body = text_or_html(item["content_text"])
    authors = [a.get("name") for a in item.get("authors") or [] if isinstance(a, dict)
               and isinstance(a.get("name"), str)]
    fallback = None
    if body and real_body(body):
        fallback = Article.create(
            title=title or fallback_title(body), text=body, url=link, source=site,
            authors=[n for a in authors for n in split_authors(a)], published=published,
            origin=origin, external_id=guid)
    return FeedItem(link=link, guid=guid, title=title, published=published,
                    version=_version(title, published, modified, hashlib.sha1(
                        body.encode()).hexdigest()), fallback=fallback)
