"""What a watched URL holds: each feed format, sitemaps, pages, and broken documents."""
from __future__ import annotations

import json

import pytest

from ingest.loaders.common import SkipInput
from ingest.watch.parse import parse_source, real_body
from tests.watch.conftest import rss, story

BASE = "http://news.example/feed"


def test_rss2_items_with_links_guids_dates_and_a_real_body_as_fallback():
    doc = parse_source(rss([
        {"title": "Ferry vote", "link": "http://news.example/a", "guid": "g-1",
         "pubdate": "Tue, 01 Dec 2026 10:00:00 GMT", "summary": "One line."},
        {"title": "Long one", "link": "/b", "summary": story(1)},
    ]), BASE)
    assert doc.kind == "rss" and doc.title == "Alderford Courier"
    a, b = doc.items
    assert (a.link, a.guid, a.title) == ("http://news.example/a", "g-1", "Ferry vote")
    assert a.published == "2026-12-01T10:00:00+00:00" and a.fallback is None
    assert b.link == "http://news.example/b" and b.published is None
    assert b.fallback is not None and b.fallback.url == "http://news.example/b"


def test_rss1_atom_and_json_feed():
    rdf = ('<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
           'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
           '<channel><title>Wire</title></channel><item><title>T</title>'
           '<link>http://news.example/r</link><dc:date>2026-11-30</dc:date></item></rdf:RDF>')
    atom = ('<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom Site</title><entry>'
            '<title>A</title><id>urn:1</id><link rel="alternate" href="http://news.example/t"/>'
            '<updated>2026-11-29T08:00:00Z</updated><summary>s</summary></entry></feed>')
    feed = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "JSON Site",
                       "items": [{"id": "7", "url": "http://news.example/j", "title": "J",
                                  "date_published": "2026-11-28T07:00:00Z",
                                  "content_text": story(2)}]})
    r, a, j = (parse_source(t, BASE) for t in (rdf, atom, feed))
    assert r.kind == "rdf" and r.items[0].link == "http://news.example/r"
    assert r.items[0].published == "2026-11-30"
    assert a.kind == "atom" and a.items[0].guid == "urn:1"
    assert a.items[0].published == "2026-11-29T08:00:00+00:00"
    assert j.kind == "jsonfeed" and j.items[0].guid == "7" and j.items[0].fallback is not None


def test_a_changed_item_changes_its_version():
    one = parse_source(rss([{"title": "T", "link": "http://x.example/a"}]), BASE).items[0]
    two = parse_source(rss([{"title": "T (updated)", "link": "http://x.example/a"}]), BASE)
    assert one.version != two.items[0].version


def test_news_sitemap_and_sitemap_index():
    urlset = ('<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
              'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url>'
              '<loc>http://news.example/s1</loc><news:news><news:title>Bridge reopens'
              '</news:title><news:publication_date>2026-12-01T09:00:00+01:00'
              '</news:publication_date></news:news></url><url><loc>/s2</loc>'
              '<lastmod>2026-12-02</lastmod></url></urlset>')
    index = ('<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap>'
             '<loc>http://news.example/news.xml</loc></sitemap><sitemap><loc>/more.xml</loc>'
             '</sitemap></sitemapindex>')
    s = parse_source(urlset, "http://news.example/sitemap.xml")
    assert s.kind == "sitemap"
    assert [(i.link, i.title, i.published) for i in s.items] == [
        ("http://news.example/s1", "Bridge reopens", "2026-12-01T09:00:00+01:00"),
        ("http://news.example/s2", None, None)]  # a lastmod is not a publication date
    idx = parse_source(index, "http://news.example/sitemap.xml")
    assert idx.kind == "sitemapindex"
    assert idx.children == ["http://news.example/news.xml", "http://news.example/more.xml"]


def test_an_html_page_is_its_own_single_item():
    doc = parse_source("<!DOCTYPE html><html><body>x</body></html>", "http://news.example/p")
    assert doc.kind == "page" and doc.items[0].link == "http://news.example/p"


@pytest.mark.parametrize("text, why", [
    ("<rss><channel><item><title>broken", "XML error"),
    ('<!DOCTYPE x [<!ENTITY a "aaaa">]><rss/>', "entity declarations"),
    ('{"items": []}', "not a JSON Feed"),
    ("{broken json", "JSON error"),
    ("just some words", "neither XML"),
    ("<html-ish><foo/></html-ish>", "not an RSS or Atom feed"),
])
def test_broken_documents_are_reported(text, why):
    with pytest.raises(SkipInput, match=why):
        parse_source(text, BASE)


def test_real_body_is_not_a_one_line_summary():
    assert real_body(story(3)) and not real_body("Council votes on the ferry budget tonight.")
