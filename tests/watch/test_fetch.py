"""The polite fetcher against a real loopback server: validators, limits, redirects, refusals."""
from __future__ import annotations

import gzip

import pytest

from ingest.watch.fetch import Fetcher, Refused, check_url, user_agent


def fetcher(**kw) -> Fetcher:
    return Fetcher(**{"delay": 0.0, "backoff": 0.0, "timeout": 5.0, **kw})


def test_user_agent_names_newsrag_and_a_304_for_an_unchanged_document(site):
    site.add("/feed.xml", "<rss/>", ctype="application/rss+xml")
    f = fetcher()
    first = f.get(site.url + "/feed.xml")
    assert first.ok and first.body == b"<rss/>"
    again = f.get(site.url + "/feed.xml", etag=first.headers["etag"])
    assert again.not_modified and again.body == b""
    headers = site.hits("/feed.xml")
    assert headers[0]["user-agent"].startswith("newsrag/") and user_agent() in headers[0][
        "user-agent"]
    assert headers[1]["if-none-match"] == first.headers["etag"]


def test_a_slow_server_times_out(site):
    site.add("/slow", "late", delay=2.0)
    result = fetcher(timeout=0.4, retries=0).get(site.url + "/slow")
    assert result.error == "timeout" and not result.ok


def test_an_oversized_page_is_refused_declared_or_decompressed(site):
    site.add("/big", "x" * 5000)
    site.add("/bomb", b"\0" * 2_000_000, gzip=True)  # 2 KB on the wire, 2 MB unpacked
    f = fetcher(max_bytes=1000)
    assert f.get(site.url + "/big").error == "too large"
    bomb = f.get(site.url + "/bomb")
    assert bomb.error == "too large" and len(bomb.body) == 0


def test_gzip_and_the_charset_of_the_headers(site):
    text = "Café crème à Alderford"
    site.add("/latin", text.encode("latin-1"), ctype="text/html; charset=iso-8859-1", gzip=True)
    got = fetcher().get(site.url + "/latin")
    assert got.ok and got.text() == text
    assert "gzip" in site.hits("/latin")[0]["accept-encoding"]


def test_a_redirect_is_followed_but_not_to_another_scheme(site):
    site.add("/new", "moved here")
    site.add("/old", status=301, headers={"Location": "/new"}, etag=False)
    site.add("/evil", status=302, headers={"Location": "file:///etc/passwd"}, etag=False)
    f = fetcher()
    moved = f.get(site.url + "/old")
    assert moved.ok and moved.url.endswith("/new") and moved.body == b"moved here"
    evil = f.get(site.url + "/evil")
    assert evil.error == "refused" and "file" in evil.detail


def test_robots_txt_is_respected(site):
    site.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", ctype="text/plain")
    site.add("/private/story", "secret")
    site.add("/public/story", "open")
    f = fetcher()
    assert f.get(site.url + "/public/story").ok
    refused = f.get(site.url + "/private/story")
    assert refused.error == "refused" and "robots.txt" in refused.detail
    assert site.hits("/private/story") == [] and len(site.hits("/robots.txt")) == 1


def test_private_addresses_on_another_host_are_refused(site):
    site.add("/page", "hello")
    other = f"http://localhost:{site.port}/page"  # another host name, on loopback
    with pytest.raises(Refused, match="non-public address"):
        check_url(other, home="127.0.0.1", allow_private=False)
    check_url(other, home="localhost", allow_private=False)  # a configured host: as given
    check_url(other, home="127.0.0.1", allow_private=True)
    for url in ("http://10.1.2.3/x", "http://169.254.169.254/latest/meta-data/",
                "http://[::1]/x"):
        with pytest.raises(Refused):
            check_url(url, home="example.org", allow_private=False)
    with pytest.raises(Refused, match="scheme 'file'"):
        check_url("file:///etc/passwd", home=None, allow_private=True)
    f = fetcher()
    assert f.get(other, home="127.0.0.1").error == "refused"
    assert site.hits("/page") == []
    assert f.get(other, home="localhost").ok


def test_500_is_retried_with_backoff_and_404_is_not(site):
    site.add("/flaky", "fine now", statuses=[500, 503])
    site.add("/gone", status=410, etag=False)
    f = fetcher(retries=3)
    flaky = f.get(site.url + "/flaky")
    assert flaky.ok and flaky.attempts == 3
    gone = f.get(site.url + "/gone")
    assert gone.status == 410 and gone.attempts == 1


def test_a_refused_connection_is_reported_not_raised():
    result = fetcher(retries=1).get("http://127.0.0.1:9/nothing")  # the discard port: closed
    assert result.error == "connection" and result.attempts == 2


def test_gzip_body_served_as_a_file_is_bytes(site):
    site.add("/sitemap.xml.gz", gzip.compress(b"<urlset/>"), ctype="application/gzip")
    assert fetcher().get(site.url + "/sitemap.xml.gz").body[:2] == b"\x1f\x8b"
