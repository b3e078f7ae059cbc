"""The watcher end to end: a real loopback site, the real embedder, Chroma and the catalog."""
from __future__ import annotations

import pytest

from ingest.watch import Watcher
from rag.index import Index
from rag.settings import Settings
from tests.watch.conftest import article_page, rss, story


@pytest.fixture
def watcher(tmp_path, embedder):
    """make(sources, **settings) -> a Watcher on this test's index (reopened on each call)."""
    opened: list[Watcher] = []

    def make(sources, **kw) -> Watcher:
        for w in opened:
            w.close()
            w.index.close()
        opened.clear()
        s = Settings(data_dir=tmp_path / "idx", **{
            "watch_delay": 0.0, "watch_backoff": 0.0, "watch_retry_after": 0.0,
            "watch_timeout": 3.0, "watch_retries": 1, **kw})
        w = Watcher(Index.open(s, embedder), sources, every=60)
        opened.append(w)
        return w

    yield make
    for w in opened:
        w.close()
        w.index.close()


def publish(site, n: int, **kw) -> dict:
    """Page /news/n on the site, and its feed item."""
    text = kw.pop("text", None) or story(n)
    site.add(f"/news/{n}", article_page(kw.pop("title", f"Ferry story {n}"), text, **kw))
    return {"title": f"Feed title {n}", "link": f"{site.url}/news/{n}", "summary": "Short."}


def chunk_texts(index: Index) -> str:
    catalog = index.catalog
    return " ".join(catalog.chunk_texts(catalog.article_ids_with_chunks()))


def test_new_items_are_stored_and_an_unchanged_feed_costs_one_304(site, watcher):
    items = [publish(site, n, published=f"2026-12-0{n + 1}T10:00:00Z") for n in range(3)]
    site.add("/feed.xml", rss(items), ctype="application/rss+xml")
    w = watcher([site.url + "/feed.xml"])
    (report,) = w.poll()
    assert report.status == 200 and report.new == 3 and report.outcomes["stored"] == 3
    assert not report.failed
    index = w.index
    assert index.catalog.counts()["articles"] == 3 and index.verify()["consistent"]
    first, last = index.catalog.date_range()
    assert first.startswith("2026-12-01") and last.startswith("2026-12-03")
    (again,) = w.poll()
    assert again.status == 304 and again.fetched == 0 and again.new == 0
    assert "if-none-match" in site.hits("/feed.xml")[1]
    assert [len(site.hits(f"/news/{n}")) for n in range(3)] == [1, 1, 1]  # no page again
    (src,) = index.catalog.feed_report()
    assert src["http_status"] == 304 and src["polls"] == 2
    assert src["items"]["seen"] == 3 and src["items"]["stored"] == 3
    # a re-run in a new process state: nothing fetched again either
    w2 = watcher([site.url + "/feed.xml"])
    assert w2.poll()[0].fetched == 0


def test_the_page_metadata_comes_first_the_feed_fills_gaps_and_no_date_is_invented(site,
                                                                                 watcher):
    site.add("/a", article_page("Page headline A", story(10), published="2026-11-20T08:00:00Z"))
    site.add("/b", article_page("Page headline B", story(11)))  # no date on the page
    site.add("/c", article_page("Page headline C", story(12)))
    items = [
        {"title": "Feed A", "link": f"{site.url}/a", "pubdate": "Sat, 21 Nov 2026 09:00:00 GMT"},
        {"title": "Feed B", "link": f"{site.url}/b", "pubdate": "Sun, 22 Nov 2026 09:00:00 GMT"},
        {"title": "Feed C", "link": f"{site.url}/c"},
    ]
    site.add("/feed.xml", rss(items), ctype="application/rss+xml")
    w = watcher([site.url + "/feed.xml"])
    assert w.poll()[0].outcomes["stored"] == 3
    rows = dict(w.index.catalog.article_rows("title", "published"))
    assert rows == {"Page headline A": "2026-11-20T08:00:00+00:00",
                    "Page headline B": "2026-11-22T09:00:00+00:00", "Page headline C": None}


def test_an_updated_article_replaces_its_chunks(site, watcher):
    item = publish(site, 1, text=story(1, "The old version says the ferry stays."))
    site.add("/feed.xml", rss([item]), ctype="application/rss+xml")
    w = watcher([site.url + "/feed.xml"])
    w.poll()
    assert "old version" in chunk_texts(w.index)
    publish(site, 1, text=story(1, "The corrected version says the ferry will close."))
    site.add("/feed.xml", rss([{**item, "title": "Ferry to close (updated)"}]),
             ctype="application/rss+xml")
    (report,) = w.poll()
    assert report.changed == 1 and report.outcomes["updated"] == 1
    texts = chunk_texts(w.index)
    assert "corrected version" in texts and "old version" not in texts
    assert w.index.catalog.counts()["articles"] == 1 and w.index.verify()["consistent"]


def test_500_then_200_is_retried_and_stored_and_404_ends_dead(site, watcher):
    flaky, gone = publish(site, 1), {"title": "Gone", "link": f"{site.url}/gone"}
    site.routes["/news/1"].statuses = [500]
    site.add("/feed.xml", rss([flaky, gone]), ctype="application/rss+xml")
    w = watcher([site.url + "/feed.xml"], watch_dead_after=3)
    first = w.poll()[0]
    assert first.outcomes["stored"] == 1 and first.outcomes["waiting"] == 1
    assert len(site.hits("/news/1")) == 2
    assert w.poll()[0].outcomes["waiting"] == 1  # the feed is unchanged (304); the item retried
    last = w.poll()[0]
    assert last.outcomes["dead"] == 1 and last.failed
    assert last.problems == [{"url": f"{site.url}/gone", "state": "dead", "reason": "HTTP 404"}]
    assert len(site.hits("/gone")) == 3
    assert w.poll()[0].fetched == 0  # dead stays dead
    assert w.index.catalog.feed_report()[0]["items"]["dead"] == 1


def test_a_malformed_feed_is_reported_and_loses_nothing(site, watcher):
    site.add("/feed.xml", rss([publish(site, 1)]), ctype="application/rss+xml")
    w = watcher([site.url + "/feed.xml"])
    w.poll()
    site.add("/feed.xml", "<rss><channel><item><title>cut off", ctype="application/rss+xml")
    (broken,) = w.poll()
    assert broken.failed and broken.error.startswith("malformed feed: XML error")
    assert w.index.catalog.counts()["articles"] == 1
    assert w.index.catalog.feed_report()[0]["error"].startswith("malformed feed")
    site.add("/feed.xml", rss([publish(site, 1), publish(site, 2)]), ctype="application/rss+xml")
    fixed = w.poll()[0]
    assert fixed.error is None and fixed.outcomes["stored"] == 1
    assert "if-none-match" not in site.hits("/feed.xml")[-1]  # a broken poll kept no validator


def test_robots_txt_and_links_to_private_hosts_are_refused(site, watcher):
    site.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", ctype="text/plain")
    site.add("/private/x", article_page("Hidden", story(5)))
    site.add("/private/y", article_page("Hidden too", story(6)))
    site.add("/inside", article_page("Intranet", story(7)))
    items = [{"title": "Hidden", "link": f"{site.url}/private/x", "summary": "Short."},
             {"title": "Hidden but whole in the feed", "link": f"{site.url}/private/y",
              "summary": story(6)},
             {"title": "SSRF", "link": f"http://localhost:{site.port}/inside"},
             {"title": "Local file", "link": "file:///etc/passwd"},
             publish(site, 1)]
    site.add("/feed.xml", rss(items), ctype="application/rss+xml")
    w = watcher([site.url + "/feed.xml"])
    (report,) = w.poll()
    assert site.hits("/private/x") == site.hits("/private/y") == site.hits("/inside") == []
    states = dict(w.index.catalog.feed_item_rows("link", "state"))
    assert states[f"{site.url}/private/x"] == "refused"
    assert states[f"http://localhost:{site.port}/inside"] == "refused"
    assert states[f"{site.url}/private/y"] == "stored"  # the feed's own full text
    assert states["file:///etc/passwd"] == "refused"
    assert report.outcomes["stored"] == 2 and report.outcomes["refused"] == 3 and report.failed
    reasons = {p["url"]: p["reason"] for p in report.problems}
    assert "robots.txt" in reasons[f"{site.url}/private/x"]
    assert "non-public address" in reasons[f"http://localhost:{site.port}/inside"]


def test_an_unreachable_page_uses_the_feed_text_only_when_it_is_an_article(site, watcher):
    site.add("/down-long", "", status=503, etag=False)
    site.add("/down-short", "", status=503, etag=False)
    items = [{"title": "Whole story in the feed", "link": f"{site.url}/down-long",
              "summary": story(20)},
             {"title": "Teaser only", "link": f"{site.url}/down-short", "summary": "Read on."}]
    site.add("/feed.xml", rss(items), ctype="application/rss+xml")
    w = watcher([site.url + "/feed.xml"])
    (report,) = w.poll()
    assert report.outcomes["stored"] == 1 and report.outcomes["waiting"] == 1
    assert not report.failed  # waiting for the next poll is not a failure
    site.add("/down-short", article_page("Teaser page", story(21)))
    assert w.poll()[0].outcomes["stored"] == 1
    assert w.index.catalog.counts()["articles"] == 2


def test_syndicated_copies_and_known_guids(site, watcher):
    text = story(30)
    site.add("/orig", article_page("Bridge reopens", text, published="2026-12-01T08:00:00Z"))
    site.add("/copy", article_page("Bridge reopens (wire)", "ALDERFORD (Wire) - " + text,
                                   site_name="Other Paper"))
    site.add("/moved", article_page("Moved", story(31)))
    items = [{"title": "Bridge", "link": f"{site.url}/orig", "guid": "story-30"},
             {"title": "Bridge, wire", "link": f"{site.url}/copy", "guid": "wire-30"}]
    site.add("/feed.xml", rss(items), ctype="application/rss+xml")
    w = watcher([site.url + "/feed.xml"])
    (report,) = w.poll()
    assert report.outcomes["stored"] == 1 and report.outcomes["duplicates"] == 1
    # the same story (same guid) under a new link is not fetched again
    site.add("/feed.xml", rss(items + [{"title": "Again", "link": f"{site.url}/moved",
                                        "guid": "story-30"}]), ctype="application/rss+xml")
    assert w.poll()[0].new == 0 and site.hits("/moved") == []
    assert w.index.catalog.counts()["articles"] == 1


def test_sitemap_index_json_feed_and_a_single_page(site, watcher):
    site.add("/s/1", article_page("Sitemap story one", story(40)))
    site.add("/s/2", article_page("Sitemap story two", story(41)))
    site.add("/news-sitemap.xml", (
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        f'<url><loc>{site.url}/s/1</loc><news:news><news:title>One</news:title>'
        '<news:publication_date>2026-12-01T09:00:00Z</news:publication_date></news:news></url>'
        f'<url><loc>{site.url}/s/2</loc></url></urlset>'), ctype="application/xml")
    site.add("/sitemap.xml", '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
             '<sitemap><loc>/news-sitemap.xml</loc></sitemap></sitemapindex>',
             ctype="application/xml")
    site.add("/j/1", article_page("JSON story", story(42)))
    site.add("/feed.json", '{"version": "https://jsonfeed.org/version/1.1", "title": "J", '
             f'"items": [{{"id": "1", "url": "{site.url}/j/1", "title": "JSON"}}]}}',
             ctype="application/feed+json")
    site.add("/lone-page", article_page("A single page", story(43)))
    w = watcher([site.url + "/sitemap.xml", site.url + "/feed.json", site.url + "/lone-page"])
    reports = w.poll()
    assert [(r.source.rsplit("/", 1)[-1], r.kind) for r in reports] == [
        ("sitemap.xml", "sitemapindex"), ("news-sitemap.xml", "sitemap"),
        ("feed.json", "jsonfeed"), ("lone-page", "page")]
    assert sum(r.outcomes["stored"] for r in reports) == 4
    dates = dict(w.index.catalog.article_rows("title", "published"))
    assert dates["Sitemap story one"] == "2026-12-01T09:00:00+00:00"
    assert dates["Sitemap story two"] is None
    feeds = w.index.catalog.feed_report()
    assert [f["parent"] for f in feeds].count(site.url + "/sitemap.xml") == 1


def test_hostile_pages_too_large_or_claiming_another_site(site, watcher):
    site.add("/huge", article_page("Huge", story(50) * 40))
    site.add("/liar", article_page("Liar", story(51), url="http://victim.example/their-story"))
    items = [{"title": "Huge", "link": f"{site.url}/huge"},
             {"title": "Liar", "link": f"{site.url}/liar"}]
    site.add("/feed.xml", rss(items), ctype="application/rss+xml")
    w = watcher([site.url + "/feed.xml"], watch_max_bytes=20_000)
    (report,) = w.poll()
    assert report.outcomes["failed"] == 1 and report.outcomes["stored"] == 1
    assert "too large" in next(p["reason"] for p in report.problems if "huge" in p["url"])
    urls = [r[0] for r in w.index.catalog.article_rows("url")]
    assert urls == [f"{site.url}/liar"]


def test_a_sitemap_index_that_lists_itself_or_nests_deeply_ends(site, watcher):
    for k in range(5):  # /idx0 lists itself and /idx1, /idx1 lists /idx2, ...
        site.add(f"/idx{k}", '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                 f"<sitemap><loc>/idx{k}</loc></sitemap><sitemap><loc>/idx{k + 1}</loc>"
                 "</sitemap></sitemapindex>", ctype="application/xml")
    reports = watcher([site.url + "/idx0"]).poll()
    assert [r.source.rsplit("/", 1)[-1] for r in reports] == ["idx0", "idx1", "idx2"]
    assert "nested deeper" in reports[-1].error


def test_a_run_with_a_shorter_interval_polls_sooner(site, watcher):
    site.add("/feed.xml", rss([]), ctype="application/rss+xml")
    w = watcher([site.url + "/feed.xml"])
    w.every = 900.0
    assert len(w.poll(due_only=True)) == 1
    assert w.poll(due_only=True) == []  # not due for 15 minutes
    w.every = 1.0  # restarted with --every 1s
    later = w.clock() + 2
    w.clock = lambda: later
    assert len(w.poll(due_only=True)) == 1
