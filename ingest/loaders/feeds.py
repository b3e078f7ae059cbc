"""RSS 2.0 / RSS 1.0 and Atom feeds, parsed with the standard library; one article per item."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.entities import html5

from rag.types import Article, Skip

from .common import (
    SkipInput,
    clean_url,
    fallback_title,
    html_to_paragraphs,
    normalize_date,
    one_line,
    split_authors,
    text_or_html,
)

_XML_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}
_NAMED_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]{1,31});")


def _local(tag: object) -> str:
    """"{namespace}name" -> "name"; comments and processing instructions have no name."""
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _html_entities_to_numeric(text: str) -> str:
    # Feeds often carry HTML entities (&nbsp;) that XML does not define; expat would reject them.
    def repl(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _XML_ENTITIES or name + ";" not in html5:
            return match.group(0)
        return "".join(f"&#{ord(c)};" for c in html5[name + ";"])

    return _NAMED_ENTITY.sub(repl, text)


def parse_feed(text: str) -> ET.Element:
    """The feed's root element; refuses entity declarations (the "billion laughs" attack)."""
    if re.search(r"<!ENTITY", text, re.IGNORECASE):
        raise SkipInput("malformed feed", "DOCTYPE with entity declarations refused")
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)  # the str is decoded; its encoding is moot
    try:
        return ET.fromstring(_html_entities_to_numeric(text))
    except ET.ParseError as exc:
        raise SkipInput("malformed feed", f"XML error: {exc}") from None


def _children(elem: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in elem if _local(child.tag) == name]


def _child_text(elem: ET.Element, *names: str) -> str | None:
    for name in names:
        for child in _children(elem, name):
            value = _inner(child).strip()
            if value:
                return value
    return None


def _inner(elem: ET.Element) -> str:
    """The element's content: its text, or its serialised children for Atom type="xhtml"."""
    if len(elem) and elem.get("type", "").lower() == "xhtml":
        for node in elem.iter():  # drop the XHTML namespace so that <p> reads as <p>
            if isinstance(node.tag, str):
                node.tag = _local(node.tag)
        return "".join(ET.tostring(child, encoding="unicode") for child in elem)
    return "".join(elem.itertext())


def _link(item: ET.Element) -> str | None:
    links = _children(item, "link")
    for link in links:  # Atom: <link rel="alternate" href="..."/>, or no rel at all
        if link.get("href") and link.get("rel", "alternate") == "alternate":
            return link.get("href")
    for link in links:
        if (link.text or "").strip():
            return link.text.strip()
    for guid in _children(item, "guid"):  # an RSS guid is a permalink unless it says otherwise
        if guid.get("isPermaLink", "true") == "true" and (guid.text or "").startswith("http"):
            return guid.text.strip()
    return None


def _authors(item: ET.Element) -> list[str]:
    names: list[str] = []
    for child in item:
        tag = _local(child.tag)
        if tag == "creator":
            names += split_authors(child.text or "")
        elif tag == "author":
            name = _child_text(child, "name")  # Atom <author><name>
            raw = name or (child.text or "").strip()
            # RSS <author> is an e-mail, often "jo@x.com (Jo Smith)": keep the name.
            paren = re.search(r"\(([^)]+)\)", raw)
            if paren and "@" in raw:
                raw = paren.group(1)
            if raw and "@" not in raw:
                names += split_authors(raw)
    return names


def _item_text(item: ET.Element) -> str:
    for name in ("encoded", "content", "description", "summary"):
        for child in _children(item, name):
            value = _inner(child)
            kind = child.get("type", "").lower()
            text = html_to_paragraphs(value) if kind in ("html", "xhtml") else text_or_html(value)
            if text:
                return text
    return ""


def _items(root: ET.Element) -> list[ET.Element]:
    kind = _local(root.tag)
    if kind == "rss":
        channel = _children(root, "channel")
        return _children(channel[0], "item") if channel else []
    if kind == "rdf":  # RSS 1.0: items are siblings of the channel
        return _children(root, "item")
    if kind == "feed":
        return _children(root, "entry")
    raise SkipInput("malformed feed", f"not an RSS or Atom feed (root element <{kind}>)")


def load_feed(text: str, origin: str) -> Iterator[Article | Skip]:
    """One article per feed item ("#N" is the item number); an item without text is skipped."""
    try:
        root = parse_feed(text)
        items = _items(root)
    except RecursionError:
        raise SkipInput("malformed feed", "nested too deeply") from None
    if not items:
        yield Skip(origin, "no article", "the feed has no items")
        return
    site = _feed_name(root)
    for n, item in enumerate(items, 1):
        yield _article(item, f"{origin}#{n}", site)


def _feed_name(root: ET.Element) -> str | None:
    """The outlet: the feed's own title up to its tagline ("Circuit Beat – Tech" -> "Circuit Beat")."""
    channel = _children(root, "channel")
    title = _child_text(channel[0] if channel else root, "title")
    if not title:
        return None
    name = re.split(r"\s+[–—|:-]\s+", one_line(title))[0].strip()
    return name[:80] or None


def _article(item: ET.Element, origin: str, site: str | None = None) -> Article | Skip:
    try:
        body = _item_text(item)
    except RecursionError:
        return Skip(origin, "malformed feed", "item nested too deeply")
    if not body:
        return Skip(origin, "missing text", "no content:encoded, content, description or summary")
    title = one_line(_child_text(item, "title") or "")
    published = None
    for name in ("pubdate", "published", "date", "issued", "updated", "modified"):
        published = normalize_date(_child_text(item, name))
        if published:
            break
    source = _children(item, "source")
    guid = _child_text(item, "guid", "id")
    return Article.create(
        title=title or fallback_title(body),
        text=body,
        url=clean_url(_link(item)),
        source=(one_line(source[0].text or "") if source and _local(item.tag) == "item" else None)
        or site,
        authors=_authors(item),
        published=published,
        origin=origin,
        external_id=guid,
    )
