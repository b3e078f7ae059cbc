"""The input loaders: scraped text, HTML, records, feeds, gzip, and every kind of bad input."""
from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.loaders import SUFFIXES, iter_files, load_file
from ingest.loaders.common import fallback_title, normalize_date, split_authors
from rag.types import Article, Skip

SHARED = Path(__file__).resolve().parents[3] / "shared"
SEED = SHARED / "seeds" / "000_f126b7c4cd519df5.txt"
REPO = Path(__file__).resolve().parents[2]
REASONS = {
    "empty", "binary", "undecodable", "too large", "no article", "malformed json",
    "malformed csv", "malformed feed", "missing text", "unsupported type", "unreadable",
    "truncated gzip",
}


def load(path: Path, **kwargs) -> list[Article | Skip]:
    return list(load_file(path, **kwargs))


def articles(items: list[Article | Skip]) -> list[Article]:
    return [a for a in items if isinstance(a, Article)]


def skips(items: list[Article | Skip]) -> list[Skip]:
    return [s for s in items if isinstance(s, Skip)]


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    if name.endswith(".gz"):
        content = gzip.compress(content)
    path.write_bytes(content)
    return path


def squash(text: str) -> str:
    return " ".join(text.split())  # NBSPs and runs of spaces, as the loader normalises them


# ---------------------------------------------------------------- scraped text: the seed


@pytest.fixture(scope="module")
def seed_article() -> Article:
    if not SEED.is_file():
        pytest.skip(f"the seed page is not here: {SEED} (it lives in ../shared/seeds)")
    items = load(SEED)
    assert [type(i) for i in items] == [Article], items
    return items[0]


def test_seed_headline(seed_article: Article) -> None:
    assert seed_article.title == (
        "North Korea-Russia arms deal shows Kremlin running out of good options. Why India must worry"
    )
    assert seed_article.origin == str(SEED)
    assert seed_article.url is None  # the page gives no link


def test_seed_outlet_comes_from_its_own_chrome(seed_article: Article) -> None:
    # named once, as the subject of its appeal: "ThePrint – with exceptional reporters, ..."
    assert seed_article.source == "ThePrint"


def test_seed_header_date_is_not_its_published_date(seed_article: Article) -> None:
    # "Monday, July 14, 2025" at the top is the day of the visit; the article (September 2023)
    # states no date of its own, so it stays undated
    assert "Monday, July 14, 2025" in SEED.read_text(encoding="utf-8").split("\n")[:3]
    assert not (seed_article.published or "").startswith("2025-07-14")
    assert seed_article.published is None


def test_seed_keeps_every_body_paragraph(seed_article: Article) -> None:
    raw = SEED.read_text(encoding="utf-8").split("\n")
    start = next(i for i, line in enumerate(raw) if line.startswith("China has"))
    end = next(i for i, line in enumerate(raw) if "set the tone for the evolution" in line)
    body = [squash(line) for line in raw[start : end + 1] if line.strip()]
    body = [line for line in body if not line.startswith("Also read")]
    assert len(body) > 20
    paragraphs = seed_article.text.split("\n\n")
    missing = [p for p in body if p not in paragraphs]
    assert not missing
    assert paragraphs.index(body[0]) < paragraphs.index(body[-1])


@pytest.mark.parametrize(
    "chrome",
    [
        "scorecardresearch", "Support Our Journalism", "Subscribe to our channels", "Also read",
        "Follow Us", "Text Size", "LEAVE A REPLY", "Please enter your", "Most Popular",
        "HomeOpinion", "India needs fair", "Monday, July 14, 2025", "Sustaining this needs",
        "paid subscription",
    ],
)
def test_seed_drops_chrome(seed_article: Article, chrome: str) -> None:
    assert chrome not in seed_article.text


# ---------------------------------------------------------------- scraped text: other chrome

OTHER_PAGE = """\
Skip to main content
Menu
News | Sport | Business | Culture
Sign in
Wed 6 Mar 2024
Home › World › Europe
Advertisement

Rotterdam opens Europe's largest floating solar park on former harbour basin
By Jane Doe and Sam Roe
Published: 5 March 2024 09:15
Share this article
Tweet

The Dutch port city switched on 12,000 floating panels on Tuesday, enough to power
about 4,000 homes, the municipality said.

Read more: How the Netherlands is rethinking its harbours

The basin, once used by grain ships, had been empty for a decade. Engineers anchored
the panels to the bottom so that they rise and fall with the water level.

Story continues below advertisement

"We are turning a relic into a power station," the alderman for energy told reporters.

We use cookies to improve your experience. By continuing you accept our cookie policy.
Sign up for our morning newsletter
Become a member
Independent local reporting costs money. Help us keep going, from as little as 1 euro.
© 2024 Harbour Media Group. All rights reserved.
Trending
Floods close motorway near Utrecht
"""


def test_other_scraped_page(tmp_path: Path) -> None:
    (article,) = load(write(tmp_path, "page.txt", OTHER_PAGE))
    assert article.title == (
        "Rotterdam opens Europe's largest floating solar park on former harbour basin"
    )
    assert article.authors == ("Jane Doe", "Sam Roe")
    assert article.published == "2024-03-05T09:15:00"
    paragraphs = article.text.split("\n\n")
    assert paragraphs[0].startswith("The Dutch port city switched on 12,000 floating panels")
    assert paragraphs[0].endswith("about 4,000 homes, the municipality said.")  # hard wrap joined
    assert len(paragraphs) == 3
    assert paragraphs[-1].startswith('"We are turning a relic')
    for chrome in (
        "Skip to", "Menu", "Sign in", "Home ›", "Advertisement", "Share", "Tweet", "Read more",
        "cookie", "newsletter", "member", "costs money", "©", "Trending", "Floods", "Wed 6 Mar",
    ):
        assert chrome not in article.text


def test_other_scraped_page_outlet_from_its_copyright_line(tmp_path: Path) -> None:
    (article,) = load(write(tmp_path, "page.txt", OTHER_PAGE))
    assert article.source == "Harbour Media Group"  # "© 2024 Harbour Media Group. All rights..."


STORY = (
    "Lock gates on the Wend canal will be replaced over the winter, the waterways board said.\n\n"
    "Boats will use the old towpath basin while the work goes on, until the end of March.\n\n"
)


def scraped(*, header: str = "", tail: str = "", body: str = STORY) -> str:
    """A page in the layout of the seed: header chrome, headline, story, tail chrome."""
    return (f"chartbeat\n{header}Support Our Journalism\n\n"
            f"Wend canal lock gates to be replaced this winter\n\n{body}{tail}"
            "LEAVE A REPLY\n\nMost Popular\n")


APPEAL = ("Support Our Journalism\n\nThe towns of the Wend need reporting that reads every "
          "plan. {name} – on the towpath since 1902 – is doing just that.\n\n"
          "Sustaining this needs support from readers like you.\n\nSupport Our Journalism\n\n")


@pytest.mark.parametrize(("name", "outlet"), [
    ("The Wendmouth Echo", "Wendmouth Echo"),  # the sentence's "The" is not the name's
    ("The Courant", "The Courant"),  # a one-word name keeps it
    ("CanalPost", "CanalPost"),
])
def test_outlet_is_the_subject_of_the_support_appeal(tmp_path: Path, name: str,
                                                     outlet: str) -> None:
    (article,) = load(write(tmp_path, "p.txt", scraped(tail=APPEAL.format(name=name))))
    assert article.source == outlet
    assert "on the towpath" not in article.text and "Lock gates" in article.text


@pytest.mark.parametrize(("tail", "outlet"), [
    ("© 2026 The Wendmouth Echo. All rights reserved.\n\n", "Wendmouth Echo"),
    ("Copyright (c) 2019-2026 Wend Valley Media Ltd\n\n", "Wend Valley Media Ltd"),
    # a weak sign counts when another line names the same outlet
    (("Mira Holt covers the waterways for the Wendmouth Echo.\n\n"
      "Subscribe to Wendmouth Echo for daily news\n\n"), "Wendmouth Echo"),
    # ... but not alone: a newsletter, a credit, a button are not enough
    ("Subscribe to The Morning Lock for daily news\n\n", None),
    ("Mira Holt covers the waterways for the Wendmouth Echo.\n\n", None),
    ("Support Our Journalism\n\nSupport Independent Reporting\n\n", None),
    ("", None),
])
def test_outlet_from_footer_lines(tmp_path: Path, tail: str, outlet: str | None) -> None:
    (article,) = load(write(tmp_path, "p.txt", scraped(tail=tail)))
    assert article.source == outlet


def test_outlet_from_the_page_title_line(tmp_path: Path) -> None:
    page = "Wend canal lock gates to be replaced this winter | Wend Weekly\n\n" + scraped()
    (article,) = load(write(tmp_path, "p.txt", page))
    assert article.title == "Wend canal lock gates to be replaced this winter"
    assert article.source == "Wend Weekly"


def test_the_article_itself_never_names_the_outlet(tmp_path: Path) -> None:
    body = STORY + ("The trust's volunteers – some in their eighties – are doing the painting. "
                    "Wend Boats – a firm of six – is doing just that on the lower reach.\n\n"
                    "© symbols will be painted on the new gates, the board said.\n\n")
    (article,) = load(write(tmp_path, "p.txt", scraped(body=body)))
    assert article.source is None
    assert "Wend Boats" in article.text


def test_outlet_from_chrome_wins_over_the_link_host(tmp_path: Path) -> None:
    body = "Link: https://www.wendmouthecho.example/canal/lock-gates\n\n" + STORY
    (article,) = load(write(tmp_path, "p.txt", scraped(body=body,
                                                        tail=APPEAL.format(name="The Wendmouth Echo"))))
    assert article.url == "https://www.wendmouthecho.example/canal/lock-gates"
    assert article.source == "Wendmouth Echo"
    (bare,) = load(write(tmp_path, "q.txt", scraped(body=body)))
    assert bare.source == "wendmouthecho.example"  # no name in the chrome: the link's host


@pytest.mark.parametrize("header", ["Monday, October 12, 2026\n", "12 October 2026\n",
                                    "2026-10-12\n"])
def test_a_header_date_line_never_dates_the_article(tmp_path: Path, header: str) -> None:
    # It may be the day of the visit (the seed's) or the article's own: the page cannot tell,
    # so the article stays undated rather than dated by a guess
    (article,) = load(write(tmp_path, "p.txt", scraped(header=header)))
    assert article.published is None
    marked = scraped(header=header, body="Published: 3 September 2023\n\n" + STORY)
    (article,) = load(write(tmp_path, "q.txt", marked))
    assert article.published == "2023-09-03"  # a marker dates it, whatever the header says


def test_support_box_mid_article_is_cut_but_the_article_goes_on(tmp_path: Path) -> None:
    page = (
        "Ferry fares frozen for another year\n\n"
        "The ferry company will keep fares at this year's level until next summer.\n\n"
        "Support Our Journalism\n\n"
        "Quality journalism needs readers like you. Subscribe today.\n\n"
        "The company said fuel costs had fallen since the spring, which made the freeze possible.\n\n"
        "Passenger groups welcomed the decision but asked for more evening sailings in winter.\n\n"
        "Unions said staffing on the night crossings was still too thin for the timetable.\n\n"
        "The regional council will review the ferry contract again in the autumn.\n\n"
        "Reporting by Ana Ruiz and Tom Berg\n\n"
        "LEAVE A REPLY\n\nMost Popular\n"
    )
    (article,) = load(write(tmp_path, "ferry.txt", page))
    assert article.title == "Ferry fares frozen for another year"
    assert "Support Our" not in article.text and "Subscribe" not in article.text
    assert "fuel costs had fallen" in article.text and "review the ferry contract" in article.text
    assert article.text.endswith("Reporting by Ana Ruiz and Tom Berg")  # a credit is article text
    assert article.authors == ("Ana Ruiz", "Tom Berg")


def test_news_that_resembles_chrome_is_kept(tmp_path: Path) -> None:
    body = [
        "Copyright law in the EU changed in 2019, and publishers now want a share of ad revenue.",
        "A sparsely populated region",
        "Residents can get a subscription to the bike scheme for 10 euros a month.",
        "More on the budget will follow when the council meets.",
        "Sign-ups rose by a third after the price cut, the operator said.",
        "Published in 1998, the first bike map of the valley is still sold in shops.",
        "Updated: see the new timetable",
    ]
    page = "Bike scheme expands to rural towns | Valley Post\n\nBike scheme expands to rural towns\n\n"
    (article,) = load(write(tmp_path, "bikes.txt", page + "\n\n".join(body) + "\n"))
    assert article.title == "Bike scheme expands to rural towns"
    assert article.text.split("\n\n") == body[:-1]  # "Updated:" is a marker, with no date
    assert article.published is None


def test_text_without_headline_gets_first_sentence_title(tmp_path: Path) -> None:
    text = (
        "The council approved the budget on Monday after a long debate that lasted into the "
        "night. Critics said the plan cut too deeply into services.\n\nIt takes effect in April.\n"
    )
    (article,) = load(write(tmp_path, "plain.txt", text))
    assert article.title == "The council approved the budget on Monday after a long debate that lasted into the night."
    assert article.text.startswith("The council approved")


def test_text_of_only_chrome_is_no_article(tmp_path: Path) -> None:
    (skip,) = load(write(tmp_path, "chrome.txt", "Advertisement\nFollow Us :\nMost Popular\n"))
    assert skip.reason == "no article"


# ---------------------------------------------------------------- HTML

PAGE = """<!doctype html>
<html><head><title>Harbour bridge reopens after repairs | Coastal Times</title>
<meta property="og:title" content="Harbour bridge reopens after repairs">
<meta property="og:site_name" content="Coastal Times">
<meta property="og:url" content="https://www.coastaltimes.example/news/harbour-bridge-reopens">
<meta property="article:published_time" content="2024-03-05T08:30:00+01:00">
<meta name="author" content="Jane Doe and Sam Roe">
</head><body>
<nav><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a></nav>
<article><h1>Harbour bridge reopens after repairs</h1>
<p>The harbour bridge reopened to traffic on Tuesday after six months of repairs to its deck.</p>
<p>A council note said the old traffic page used &lt;script&gt; tags that had to be rewritten.</p>
<p>Commuters had faced detours of up to forty minutes, and local shops reported less trade.</p>
</article>
<footer>Copyright 2024 Coastal Times</footer>
</body></html>
"""

PAGE_NO_META = """<html><head><title>Tram line extended to the airport</title>
<link rel="canonical" href="https://www.metro-news.example/2023/07/tram-airport"></head><body>
<article><h1>Tram line extended to the airport</h1>
<p>The city's tram line now runs to the airport, cutting the trip from the centre to 25 minutes.</p>
<p>Trams will run every ten minutes during the day and every twenty minutes in the evening.</p>
<p>The extension cost less than planned, the transport authority said in a statement.</p>
</article></body></html>
"""


def test_html_article(tmp_path: Path) -> None:
    (article,) = load(write(tmp_path, "bridge.html", PAGE))
    assert article.title == "Harbour bridge reopens after repairs"
    assert article.published == "2024-03-05T08:30:00+01:00"  # the full datetime from the meta tag
    assert article.url == "https://www.coastaltimes.example/news/harbour-bridge-reopens"
    assert article.source == "Coastal Times"
    assert article.authors == ("Jane Doe", "Sam Roe")
    paragraphs = article.text.split("\n\n")
    assert paragraphs[0].startswith("The harbour bridge reopened")
    assert len(paragraphs) == 3
    assert "used <script> tags" in article.text  # an escaped tag is data, kept as characters
    assert "Copyright" not in article.text and "Sport" not in article.text


def test_html_does_not_invent_a_date(tmp_path: Path) -> None:
    # The URL holds a year and month only: trafilatura's default would make it 2023-07-01.
    (article,) = load(write(tmp_path, "tram.htm", PAGE_NO_META))
    assert article.published is None
    assert article.source == "metro-news.example"  # from the canonical URL's host
    assert article.title == "Tram line extended to the airport"


def test_html_without_article_is_skipped(tmp_path: Path) -> None:
    page = (
        "<html><head><title>Page not found</title></head><body><nav><a href='/'>Home</a> | "
        "<a href='/news'>News</a></nav><p>Sorry.</p></body></html>"
    )
    (skip,) = load(write(tmp_path, "404.html", page))
    assert skip.reason == "no article"


# ---------------------------------------------------------------- records

JSONL = "\n".join(
    [
        json.dumps({
            "headline": "Wheat prices climb", "body": "Wheat prices rose 3% on Monday.\n\nTraders cited dry weather.",
            "link": "https://www.example-news.com/wheat?utm_source=x", "pubDate": "Mon, 04 Mar 2024 10:00:00 GMT",
            "byline": "Ann Lee and Bo Chan", "doc_id": 17,
        }),
        '{"title": "Broken", "text": "unterminated',
        json.dumps({"title": "Port strike ends", "text": "<p>Dock workers returned.</p><p>Ships are moving.</p>",
                    "source": "Wire", "date": "2024-03-05", "authors": ["Kim Park", "Lu Wen"]}),
        "",
        json.dumps({"title": "No body here", "url": "https://example.org/x"}),
    ]
)


def test_jsonl_with_bad_line(tmp_path: Path) -> None:
    path = write(tmp_path, "wire.jsonl", JSONL)
    items = load(path)
    first, port = articles(items)
    assert first.title == "Wheat prices climb"
    assert first.text == "Wheat prices rose 3% on Monday.\n\nTraders cited dry weather."
    assert first.published == "2024-03-04T10:00:00+00:00"
    assert first.authors == ("Ann Lee", "Bo Chan")
    assert first.source == "example-news.com"
    assert first.external_id == "17"
    assert first.origin == f"{path}#1"
    assert port.text == "Dock workers returned.\n\nShips are moving."
    assert port.published == "2024-03-05" and port.source == "Wire"
    assert port.authors == ("Kim Park", "Lu Wen")
    assert [(s.origin, s.reason) for s in skips(items)] == [
        (f"{path}#2", "malformed json"), (f"{path}#5", "missing text"),
    ]


def test_json_shapes(tmp_path: Path) -> None:
    record = {"title": "A", "content": "Text of A."}
    for i, data in enumerate(([record], {"articles": [record]}, {"items": [record]}, {"data": [record]}, record)):
        (article,) = load(write(tmp_path, f"shape{i}.json", json.dumps(data)))
        assert (article.title, article.text) == ("A", "Text of A.")
    (skip,) = load(write(tmp_path, "odd.json", json.dumps({"count": 3})))
    assert skip.reason == "no article"


def test_json_fallback_title_and_bad_records(tmp_path: Path) -> None:
    long = "Officials in the northern province said on Sunday that the new bridge over the river " * 3
    data = [{"text": long.strip()}, "not an object", {"title": "T", "maintext": ""}, {"article": "Short. Text."}]
    path = write(tmp_path, "batch.json", json.dumps(data))
    items = load(path)
    assert articles(items)[0].title == fallback_title(long)
    assert len(articles(items)[0].title) <= 120 and articles(items)[0].title.endswith("...")
    assert articles(items)[1].title == "Short."
    assert [(s.origin, s.reason) for s in skips(items)] == [
        (f"{path}#2", "malformed json"), (f"{path}#3", "missing text"),
    ]


CSV = (
    "id,headline,story,published_at,author,url\n"
    '1,Rates held,"The central bank held rates.\n\nIt meets again in June.",2024-03-05T14:00:00Z,"Ann Lee, Bo Chan",https://m.bank-watch.example/rates\n'
    "2,Too,many,fields,here,x,y\n"
    "3,Empty story,,2024-03-06,,\n"
    '4,Bonds rally,Bond yields fell.,13/03/2024,,\n'
)


def test_csv_with_mapping_and_bad_row(tmp_path: Path) -> None:
    path = write(tmp_path, "sheet.csv", CSV)
    items = load(path, mapping={"text": "story"})
    rates, bonds = articles(items)
    assert rates.text == "The central bank held rates.\n\nIt meets again in June."
    assert rates.published == "2024-03-05T14:00:00+00:00"
    assert rates.authors == ("Ann Lee", "Bo Chan")
    assert rates.source == "bank-watch.example"
    assert rates.external_id == "1" and rates.origin == f"{path}#1"
    assert bonds.published == "2024-03-13"
    assert [(s.origin, s.reason) for s in skips(items)] == [
        (f"{path}#2", "malformed csv"), (f"{path}#3", "missing text"),
    ]
    # Without the mapping no column feeds the text ("story" is not an alias).
    assert {(type(i), i.reason) for i in load(path)} == {(Skip, "missing text"), (Skip, "malformed csv")}


def test_semicolon_csv_and_title_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "semi.csv", "hed;copy\nGrid upgrade;Power lines will be buried.\n")
    (article,) = load(path, mapping={"title": "hed", "text": "copy"})
    assert (article.title, article.text) == ("Grid upgrade", "Power lines will be buried.")


def test_mapping_on_jsonl_and_bad_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "m.ndjson", json.dumps({"hed": "H", "story": "S.", "meta": {"when": "2024-01-02"}}))
    (article,) = load(path, mapping={"text": "story", "title": "hed", "date": "meta.when"})
    assert (article.title, article.text, article.published) == ("H", "S.", "2024-01-02")
    with pytest.raises(ValueError, match="Unknown target field 'body_text'.*Valid fields are"):
        load(path, mapping={"body_text": "story"})


# ---------------------------------------------------------------- feeds

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>Example Wire</title><link>https://wire.example.com/</link>
<item><title>Lake levels at record low</title><link>https://www.wire.example.com/lake</link>
<pubDate>Tue, 05 Mar 2024 08:30:00 GMT</pubDate><dc:creator>Ann Lee</dc:creator>
<description>Short summary.</description>
<content:encoded><![CDATA[<p>The lake fell to its lowest level since records began.</p><p>Boats can no longer reach the north pier.</p>]]></content:encoded>
<guid isPermaLink="false">wire-123</guid></item>
<item><title>Snow&nbsp;closes pass</title><link>https://wire.example.com/pass</link>
<pubDate>Wed, 06 Mar 2024 07:00:00 +0100</pubDate><author>desk@wire.example.com (Bo Chan)</author>
<description>&lt;p&gt;The mountain pass closed after heavy snow.&lt;/p&gt;</description></item>
<item><title>Empty item</title><link>https://wire.example.com/empty</link></item>
</channel></rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom News</title>
<entry><title type="html">Rail &lt;em&gt;strike&lt;/em&gt; called off</title>
<link rel="alternate" href="https://atom.example.org/rail"/><id>urn:uuid:1</id>
<published>2024-03-05T08:30:00Z</published><updated>2024-03-06T00:00:00Z</updated>
<author><name>Kim Park</name></author>
<content type="html">&lt;p&gt;Unions called off the strike.&lt;/p&gt;&lt;p&gt;Trains run normally.&lt;/p&gt;</content></entry>
<entry><title>Museum reopens</title><link href="https://atom.example.org/museum"/>
<updated>2024-03-07</updated>
<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>The museum reopened.</p><p>Entry is free.</p></div></content></entry>
<entry><title>Summary only</title><summary>Only a summary.</summary></entry>
</feed>
"""


def test_rss(tmp_path: Path) -> None:
    path = write(tmp_path, "wire.rss", RSS)
    items = load(path)
    lake, snow = articles(items)
    assert lake.title == "Lake levels at record low"
    assert lake.text == "The lake fell to its lowest level since records began.\n\nBoats can no longer reach the north pier."
    assert lake.published == "2024-03-05T08:30:00+00:00"
    assert lake.authors == ("Ann Lee",) and lake.external_id == "wire-123"
    assert lake.source == "Example Wire" and lake.origin == f"{path}#1"  # the feed's own name
    assert snow.title == "Snow closes pass"
    assert snow.text == "The mountain pass closed after heavy snow."
    assert snow.published == "2024-03-06T07:00:00+01:00" and snow.authors == ("Bo Chan",)
    assert [(s.origin, s.reason) for s in skips(items)] == [(f"{path}#3", "missing text")]


def test_atom(tmp_path: Path) -> None:
    items = load(write(tmp_path, "news.atom", ATOM))
    rail, museum, summary = articles(items)
    assert rail.title == "Rail strike called off"
    assert rail.text == "Unions called off the strike.\n\nTrains run normally."
    assert rail.published == "2024-03-05T08:30:00+00:00"  # published, not updated
    assert rail.url == "https://atom.example.org/rail" and rail.authors == ("Kim Park",)
    assert museum.text == "The museum reopened.\n\nEntry is free." and museum.published == "2024-03-07"
    assert summary.text == "Only a summary." and summary.url is None


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    lol = "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    )
    feed = f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY lol0 "lol">{lol}]><rss><channel><item><title>&lol9;</title><description>x</description></item></channel></rss>'
    (skip,) = load(write(tmp_path, "bomb.xml", feed))
    assert (skip.reason, skip.detail) == ("malformed feed", "DOCTYPE with entity declarations refused")


@pytest.mark.parametrize(
    ("content", "reason"),
    [("<rss><channel><item>", "malformed feed"), ("<html><body>hi</body></html>", "malformed feed"),
     ("<rss><channel><title>x</title></channel></rss>", "no article")],
)
def test_bad_feeds(tmp_path: Path, content: str, reason: str) -> None:
    (skip,) = load(write(tmp_path, "bad.xml", content))
    assert skip.reason == reason


# ---------------------------------------------------------------- gzip


@pytest.mark.parametrize(
    ("name", "content"),
    [("p.html", PAGE), ("w.jsonl", JSONL), ("w.rss", RSS), ("s.csv", CSV), ("seed.txt", None), ("a.atom", ATOM)],
)
def test_gzip_gives_the_same_as_plain(tmp_path: Path, name: str, content: str | None) -> None:
    content = SEED.read_text(encoding="utf-8") if content is None else content
    mapping = {"text": "story"} if name.endswith("csv") else None
    plain = load(write(tmp_path, name, content), mapping=mapping)
    zipped = load(write(tmp_path, name + ".gz", content), mapping=mapping)
    assert [_shape(i) for i in zipped] == [_shape(i) for i in plain]
    assert articles(zipped)


def _shape(item: Article | Skip) -> tuple:
    return type(item), getattr(item, "text", None), getattr(item, "reason", None)


def test_truncated_gzip(tmp_path: Path) -> None:
    lines = [json.dumps({"title": f"T{i}", "text": f"Story number {i}. " * 40}) for i in range(200)]
    data = gzip.compress("\n".join(lines).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    items = load(path)
    loaded = articles(items)
    assert 0 < len(loaded) < 200
    assert [a.title for a in loaded] == [f"T{i}" for i in range(len(loaded))]  # all complete
    assert items[-1].reason == "truncated gzip" and len(skips(items)) == 1
    page = gzip.compress(PAGE.encode())
    html = tmp_path / "cut.html.gz"
    html.write_bytes(page[: len(page) - 12])
    assert [(type(i), i.reason) for i in load(html)] == [(Skip, "truncated gzip")]
    junk = tmp_path / "junk.txt.gz"
    junk.write_bytes(b"\x1f\x8b\x08\x00garbage")
    assert [i.reason for i in load(junk)] == ["truncated gzip"]


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.jsonl", b"  \n\n \t\n", "empty"),
        ("image.html", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
        ("controls.txt", bytes([1, 2, 3, 4, 5, 6, 7, 8]) * 50, "binary"),
        ("c1.txt", b"\x81\x8d\x8f\x90\x9d" * 40, "undecodable"),
        ("doc.pdf", b"%PDF-1.4 ...", "unsupported type"),
        ("noext", b"hello", "unsupported type"),
        ("deep.json", b"[" * 200_000 + b"]" * 200_000, "malformed json"),
        ("broken.json", b'{"title": "x", ', "malformed json"),
    ],
)
def test_bad_inputs(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    (skip,) = load(path)
    assert skip.reason == reason and skip.origin == str(path) and skip.detail


def test_deep_jsonl_line_skips_only_itself(tmp_path: Path) -> None:
    good = json.dumps({"title": "Fine", "text": "Fine text."})
    path = write(tmp_path, "deep.jsonl", "[" * 100_000 + "]" * 100_000 + "\n" + good + "\n")
    items = load(path)
    assert [type(i) for i in items] == [Skip, Article] and items[0].reason == "malformed json"


def test_too_large(tmp_path: Path) -> None:
    path = write(tmp_path, "big.txt", "Headline of a long story here\n\n" + "Words of text. " * 100)
    (skip,) = load(path, max_bytes=100)
    assert skip.reason == "too large"
    bomb = write(tmp_path, "bomb.txt.gz", "a" * 100_000)  # small on disk, big once inflated
    assert bomb.stat().st_size < 1000
    assert [i.reason for i in load(bomb, max_bytes=10_000)] == ["too large"]


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    (skip,) = load(tmp_path / "gone.html")
    assert skip.reason == "unreadable"


def test_latin1_and_cp1252_text(tmp_path: Path) -> None:
    text = "Café owners protest new rules\n\nThe café owners of the old town marched on Friday — peacefully.\n"
    path = tmp_path / "legacy.txt"
    path.write_bytes(text.encode("cp1252"))
    (article,) = load(path)
    assert article.title == "Café owners protest new rules"
    assert "marched on Friday — peacefully." in article.text
    path.write_bytes(text.replace(" —", ",").encode("latin-1"))
    assert "café owners" in load(path)[0].text
    # Mostly UTF-8 with one stray byte: stays UTF-8 rather than turning every accent to mojibake.
    mixed = tmp_path / "mixed.txt"
    mixed.write_bytes(text.encode("utf-8") + b"Stray \x92 byte in a last line of the story.\n")
    assert "The café owners" in load(mixed)[0].text
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes(text.encode("utf-16"))
    assert load(utf16)[0].title == "Café owners protest new rules"
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps({"title": "B", "text": "Bom."}).encode())
    assert load(bom)[0].title == "B"


# ---------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-07-14", "2025-07-14"),
        ("2025-07-14T10:00:00Z", "2025-07-14T10:00:00+00:00"),
        ("2025-07-14 10:00:00+05:30", "2025-07-14T10:00:00+05:30"),
        ("Mon, 14 Jul 2025 10:00:00 GMT", "2025-07-14T10:00:00+00:00"),
        ("Monday, July 14, 2025", "2025-07-14"),
        ("14 July 2025", "2025-07-14"),
        ("July 14th, 2025", "2025-07-14"),
        ("14/07/2025", "2025-07-14"),
        ("03/04/2025", None),  # March or April: not guessed
        ("July 2025", None),  # no day: not invented
        ("yesterday", None),
        ("2025-02-30", None),
        ("", None),
        (None, None),
        (1720951200, "2024-07-14T10:00:00+00:00"),
        (1720951200000, "2024-07-14T10:00:00+00:00"),
        (42, None),
    ],
)
def test_normalize_date(raw: object, expected: str | None) -> None:
    assert normalize_date(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("A Smith and B Jones", ["A Smith", "B Jones"]),
        ("A Smith, B Jones & C Wu", ["A Smith", "B Jones", "C Wu"]),
        ("By Jane Doe", ["Jane Doe"]),
        (["Jane Doe", {"name": "Sam Roe"}], ["Jane Doe", "Sam Roe"]),
        ("", []),
        (None, []),
    ],
)
def test_split_authors(raw: object, expected: list[str]) -> None:
    assert split_authors(raw) == expected


def test_iter_files(tmp_path: Path) -> None:
    for name in ("b/2.txt", "b/1.html", "a.json", ".hidden.txt", ".git/x.txt", "b/.cache/y.txt"):
        write(tmp_path, name, "x")
    single = write(tmp_path / "elsewhere", "one.rss", "x")
    found = list(iter_files([tmp_path / "a.json", tmp_path, single]))
    rel = [p.relative_to(tmp_path).as_posix() for p in found]
    assert rel == ["a.json", "a.json", "b/1.html", "b/2.txt", "elsewhere/one.rss", "elsewhere/one.rss"]


# ---------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.one_of(
        st.binary(max_size=600),
        st.text(max_size=400).map(lambda t: t.encode("utf-8")),
        st.sampled_from([PAGE, JSONL, RSS, ATOM, CSV, OTHER_PAGE]).flatmap(
            lambda s: st.integers(0, len(s)).map(lambda n: s[:n].encode())
        ),
    ),
    suffix=st.sampled_from(sorted(SUFFIXES) + [".gz"]),
)
def test_load_file_never_raises(tmp_path: Path, data: bytes, suffix: str) -> None:
    name = "f.jsonl.gz" if suffix == ".gz" else "f" + suffix
    path = tmp_path / name
    path.write_bytes(data)
    for item in load_file(path):
        assert isinstance(item, (Article, Skip))
        if isinstance(item, Skip):
            assert item.reason in REASONS
            assert "internal error" not in item.detail, item.detail
        else:
            assert item.text.strip() and item.title


# ---------------------------------------------------------------- the demo corpus


def test_demo_corpus_loads_without_skips() -> None:
    corpus = REPO / "demo" / "corpus"
    files = list(iter_files([corpus])) if corpus.is_dir() else []
    if not files:
        pytest.skip("demo/corpus not written yet")
    items = [item for path in files for item in load_file(path)]
    assert not skips(items), skips(items)[:5]
    assert len(articles(items)) >= len(files)
    chrome = ("Support Our Journalism", "LEAVE A REPLY", "Also read", "Follow Us", "Text Size",
              "Subscribe to our", "by clicking here", "is doing just that", "Most Popular")
    for article in articles(items):
        assert article.title and article.text
        assert not [c for c in chrome if c in article.text], article.origin
        assert article.published or article.origin.endswith(".txt"), article.origin


def _readme_outlets() -> dict[str, set[str]]:
    """demo/README.md's file table: the outlets of each file."""
    rows = re.findall(r"^\| [\d-]+ \| `corpus/([^`]+)` \| ([^|]+?) \|",
                      (REPO / "demo" / "README.md").read_text("utf-8"), re.MULTILINE)
    table: dict[str, set[str]] = {}
    for name, outlet in rows:
        table.setdefault(name, set()).add(outlet)
    return table


def test_every_demo_article_has_its_outlet_and_the_link_its_file_gives() -> None:
    corpus = REPO / "demo" / "corpus"
    table = _readme_outlets()
    found: dict[str, set[str | None]] = {}
    for path in iter_files([corpus]):
        name = path.relative_to(corpus).as_posix()
        for article in articles(load(path)):
            found.setdefault(name, set()).add(article.source)
            gives_link = path.suffix != ".txt" or "\nLink: http" in path.read_text("utf-8")
            assert bool(article.url) == gives_link, article.origin
    assert found == table  # each file's outlets as the README lists them: none missing
    outlets = {o for names in found.values() for o in names}
    # the figures both READMEs give: "36 articles, 9 outlets" and "... from 9 outlets"
    (figure,) = re.findall(r"(\d+) outlets", (REPO / "README.md").read_text("utf-8"))
    assert len(outlets) == int(figure) == len({o for names in table.values() for o in names})
    assert f"from {figure} outlets" in (REPO / "demo" / "README.md").read_text("utf-8")


# Expected outcome per shared fixture file: the Skip reasons it yields, and whether it has articles.
FIXTURES = {
    "bad/binary.html": ({"binary"}, False),
    "bad/empty.txt": ({"empty"}, False),
    "bad/chrome_only.html": ({"no article"}, False),
    "bad/broken.jsonl": ({"malformed json", "missing text"}, True),
    "bad/rows.csv": ({"missing text"}, True),
    "bad/latin1.txt": (set(), True),
    "bad/truncated.jsonl.gz": ({"truncated gzip"}, None),
    "hostile/injection.txt": (set(), True),
    "hostile/xss.html": (set(), True),
}


def test_shared_bad_and_hostile_fixtures() -> None:
    root = REPO / "tests" / "fixtures"
    files = list(iter_files([root / "bad", root / "hostile"])) if root.is_dir() else []
    files = [f for f in files if f.exists()]
    if not files:
        pytest.skip("tests/fixtures/bad not written yet")
    for path in files:
        items = load(path)
        assert items and all(isinstance(i, (Article, Skip)) for i in items), path
        expected = FIXTURES.get(path.relative_to(root).as_posix())
        if expected is None:
            continue
        reasons, has_articles = expected
        assert {s.reason for s in skips(items)} == reasons, path
        if has_articles is not None:
            assert bool(articles(items)) == has_articles, path
    latin = root / "bad" / "latin1.txt"
    if latin.exists():
        assert "José Müller" in load(latin)[0].text
