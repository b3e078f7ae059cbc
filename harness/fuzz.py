"""Fuzz the loaders: hostile files through `load_file`, and a sample through a real ingest.

Families of inputs (hypothesis strategies): random bytes under every suffix, truncated and
corrupt gzip, broken and tag-soup HTML, deeply nested and oddly typed JSON, giant lines, wrong
and mixed encodings, hostile CSV, and XML feeds with entity bombs and external entities.
Properties: `load_file` never raises and finishes in time; each result is an Article with text
or a Skip with a reason; no "internal error" skips (a loader that crashed in a way it did not
foresee). A sample then goes through `ingest.run.ingest` into a real index: no exception, every
skip has a reason, the index verifies, and a second run adds nothing.

    python -m harness.fuzz --examples 300          # per family
"""
from __future__ import annotations

import argparse
import codecs
import gzip
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parent.parent
SUFFIXES = [".html", ".htm", ".txt", ".json", ".jsonl", ".ndjson", ".csv", ".rss", ".atom",
            ".xml", ".jsonl.gz", ".html.gz", ".json.gz", ".csv.gz", ".xml.gz", ".txt.gz", ".bin",
            ""]
WORDS = ["council", "harbour", "strike", "drivers", "reservoir", "rain", "minister", "court", "ruling", "festival", "port", "ferry", "budget", "tunnel", "flood", "school", "nurses", "market", "rates", "exports"]


def sentence(r: random.Random, n: int = 14) -> str:
    return " ".join(r.choice(WORDS) for _ in range(n)).capitalize() + "."


def article_text(r: random.Random, paragraphs: int = 3) -> str:
    return "\n\n".join(" ".join(sentence(r) for _ in range(3)) for _ in range(paragraphs))


def news_html(r: random.Random) -> str:
    paras = "".join(f"<p>{sentence(r)} {sentence(r)}</p>" for _ in range(5))
    return (f"<html><head><title>{sentence(r, 6)}</title><meta charset='utf-8'></head><body>"
            f"<nav>Home News Sport</nav><article><h1>{sentence(r, 6)}</h1>{paras}</article>"
            "<footer>Subscribe</footer></body></html>")


def record(r: random.Random) -> dict[str, Any]:
    return {"title": sentence(r, 6), "text": article_text(r), "url": f"https://f.example/{r.random()}",
            "published_at": "2026-10-01T08:00:00Z", "source": "Fuzz Wire"}


# --- the families -------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    family: str
    suffix: str
    data: bytes


def _rng(draw) -> random.Random:
    return random.Random(draw(st.integers(0, 2**32 - 1)))


@st.composite
def random_bytes(draw) -> Case:
    return Case("random bytes", draw(st.sampled_from(SUFFIXES)), draw(st.binary(max_size=4096)))


@st.composite
def broken_gzip(draw) -> Case:
    r = _rng(draw)
    inner = draw(st.sampled_from([".jsonl", ".html", ".json", ".csv", ".xml", ".txt"]))
    body = {".jsonl": lambda: "".join(json.dumps(record(r)) + "\n" for _ in range(4)),
            ".html": lambda: news_html(r), ".json": lambda: json.dumps([record(r)] * 2),
            ".csv": lambda: "title,text\n" + f'"{sentence(r)}","{article_text(r)}"\n',
            ".xml": lambda: f"<rss><channel><item><title>{sentence(r)}</title><description>"
                            f"{article_text(r)}</description></item></channel></rss>",
            ".txt": lambda: sentence(r, 6) + "\n\n" + article_text(r)}[inner]().encode()
    packed = gzip.compress(body)
    how = draw(st.sampled_from(["cut", "flip", "two members, second cut", "trailing junk"]))
    if how == "cut":
        packed = packed[: draw(st.integers(0, len(packed) - 1))]
    elif how == "flip":
        i = draw(st.integers(10, len(packed) - 1))
        packed = packed[:i] + bytes([packed[i] ^ 0xFF]) + packed[i + 1:]
    elif how == "two members, second cut":
        second = gzip.compress(body)
        packed += second[: draw(st.integers(1, len(second) - 1))]
    else:
        packed += draw(st.binary(min_size=1, max_size=64))
    return Case(f"gzip ({how})", inner + ".gz", packed)


@st.composite
def broken_html(draw) -> Case:
    r = _rng(draw)
    page = news_html(r)
    how = draw(st.sampled_from(["cut", "unclosed nesting", "tag soup", "script flood",
                                "huge attribute", "entities", "no body"]))
    if how == "cut":
        page = page[: draw(st.integers(0, len(page)))]
    elif how == "unclosed nesting":
        depth = draw(st.integers(100, 20000))
        page = page.replace("<article>", "<article>" + "<div><p><span>" * depth)
    elif how == "tag soup":
        tags = ["<p>", "</p>", "<div>", "</article>", "<table>", "<td>", "<!--", "-->", "<![CDATA[",
                "<script>", "</script>", "<style>", "<svg>", "</html>", "<html>", "&", "<"]
        page = "".join(r.choice(tags) + (sentence(r, 5) if r.random() < 0.5 else "")
                       for _ in range(draw(st.integers(1, 400))))
    elif how == "script flood":
        page = page.replace("<body>", "<body>" + "<script>var x = '</p>';</script>" * 5000)
    elif how == "huge attribute":
        page = page.replace("<article>", f"<article data-x=\"{'a' * 2_000_000}\">")
    elif how == "entities":
        page = page.replace("</h1>", "&#0;&#xD800;&#1114112;&nbsp;&bogus;&amp" * 200 + "</h1>")
    else:
        page = "<html><head><title>x</title></head></html>"
    return Case(f"html ({how})", draw(st.sampled_from([".html", ".htm"])), page.encode())


@st.composite
def hostile_json(draw) -> Case:
    r = _rng(draw)
    how = draw(st.sampled_from(["deep list", "deep object", "deep in a record", "odd types",
                                "huge number", "bad escapes", "duplicate keys", "cut"]))
    depth = draw(st.integers(50, 200_000))
    if how == "deep list":
        text = "[" * depth + "]" * depth
    elif how == "deep object":
        text = '{"a":' * depth + "1" + "}" * depth
    elif how == "deep in a record":
        rec = json.dumps(record(r))[:-1] + ', "extra": ' + "[" * depth + "]" * depth + "}"
        text = rec
    elif how == "odd types":
        rec = record(r)
        key = r.choice(list(rec))
        rec[key] = draw(st.sampled_from([None, 1e308, -1, True, [], {}, [[1, 2]], {"a": None},
                                         "", " " * 100]))
        text = json.dumps(rec)
    elif how == "huge number":
        text = json.dumps(record(r))[:-1] + ', "n": ' + "9" * 100_000 + "}"
    elif how == "bad escapes":
        text = '{"title": "\\ud800\\udc00\\ud800", "text": "\\x00\\u0000 ' + sentence(r) + '"}'
    elif how == "duplicate keys":
        text = '{"text": "a", "text": ' + json.dumps(article_text(r)) + ', "title": "t"}'
    else:
        text = json.dumps([record(r) for _ in range(3)])
        text = text[: draw(st.integers(0, len(text)))]
    suffix = draw(st.sampled_from([".json", ".jsonl", ".ndjson"]))
    return Case(f"json ({how})", suffix, text.encode())


@st.composite
def giant_lines(draw) -> Case:
    r = _rng(draw)
    size = draw(st.integers(100_000, 3_000_000))
    how = draw(st.sampled_from(["one text line", "jsonl record", "csv field", "no spaces"]))
    if how == "one text line":
        words = " ".join(r.choice(WORDS) for _ in range(size // 7))
        return Case(f"giant line ({how})", ".txt", f"Headline here\n\n{words}".encode())
    if how == "jsonl record":
        rec = record(r)
        rec["text"] = " ".join(r.choice(WORDS) for _ in range(size // 7))
        return Case(f"giant line ({how})", ".jsonl", (json.dumps(rec) + "\n").encode())
    if how == "csv field":
        field_ = " ".join(r.choice(WORDS) for _ in range(size // 7))
        return Case(f"giant line ({how})", ".csv", f'title,text\n"A title","{field_}"\n'.encode())
    return Case(f"giant line ({how})", draw(st.sampled_from([".txt", ".html", ".jsonl"])),
                b"x" * size)


ENCODINGS = ["utf-16-le", "utf-16-be", "utf-32", "shift_jis", "euc-kr", "koi8-r", "cp1251",
             "latin-1", "cp1252", "gb18030", "utf-7", "mac_roman", "iso-8859-7"]


@st.composite
def wrong_encoding(draw) -> Case:
    r = _rng(draw)
    text = draw(st.sampled_from([
        "Zürich café: naïve façade — «quoted» ", "Москва: мэр и совет ", "東京の市議会は予算を ",
        "Αθήνα: το δημοτικό συμβούλιο ", "서울 시의회 예산 ", "plain ascii words "]))
    body = (sentence(r, 6) + "\n\n" + (text + sentence(r)) * 40)
    enc = draw(st.sampled_from(ENCODINGS))
    data = body.encode(enc, errors="replace")
    how = draw(st.sampled_from(["as is", "declared utf-8", "bom mismatch", "mixed", "overlong"]))
    suffix = draw(st.sampled_from([".txt", ".html", ".jsonl", ".csv", ".xml"]))
    if suffix == ".html":
        data = b"<html><head><meta charset='utf-8'></head><body><article><p>" + data + b"</p>"
    elif suffix == ".jsonl":
        data = b'{"title": "T", "text": "' + data.replace(b'"', b"'") + b'"}\n'
    elif suffix == ".csv":
        data = b"title,text\nT,\"" + data.replace(b'"', b"'") + b'"\n'
    elif suffix == ".xml":
        data = (b"<?xml version='1.0' encoding='utf-8'?><rss><channel><item><title>T</title>"
                b"<description>" + data.replace(b"<", b" ") + b"</description></item></channel></rss>")
    if how == "bom mismatch":
        data = codecs.BOM_UTF16_LE + data if enc != "utf-16-le" else codecs.BOM_UTF8 + data
    elif how == "mixed":
        data = data + body.encode("utf-8") + data[: len(data) // 3]
    elif how == "overlong":
        data = data.replace(b"a", b"\xc1\xa1").replace(b"e", b"\xe0\x81\xa5")
    return Case(f"encoding ({enc}, {how})", suffix, data)


@st.composite
def hostile_csv(draw) -> Case:
    r = _rng(draw)
    how = draw(st.sampled_from(["unbalanced quotes", "nul bytes", "no header", "ragged rows",
                                "only header", "semicolons", "bom and crlf"]))
    rows = [f'"{sentence(r, 5)}","{article_text(r)}"' for _ in range(3)]
    if how == "unbalanced quotes":
        text = "title,text\n" + '"' + "\n".join(rows)
    elif how == "nul bytes":
        text = "title,text\n" + "\n".join(rows).replace("e", "\x00", 3)
    elif how == "no header":
        text = "\n".join(rows)
    elif how == "ragged rows":
        text = "title,text,url\n" + "\n".join(row + ",x" * r.randint(0, 50) for row in rows)
    elif how == "only header":
        text = "title,text\n"
    elif how == "semicolons":
        text = "title;text\n" + "\n".join(row.replace('","', '";"') for row in rows)
    else:
        text = "\ufefftitle,text\r\n" + "\r\n".join(rows)
    return Case(f"csv ({how})", ".csv", text.encode())


@st.composite
def hostile_feed(draw) -> Case:
    r = _rng(draw)
    item = f"<item><title>{sentence(r, 5)}</title><description>{article_text(r)}</description></item>"
    how = draw(st.sampled_from(["billion laughs", "external entity", "quadratic blowup", "deep",
                                "atom without entries", "cut", "html in cdata"]))
    if how == "billion laughs":
        ents = '<!ENTITY a0 "lol">' + "".join(
            f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
        text = f"<?xml version='1.0'?><!DOCTYPE rss [{ents}]><rss><channel><item><title>&a9;" \
               f"</title><description>x</description></item></channel></rss>"
    elif how == "external entity":
        text = ("<?xml version='1.0'?><!DOCTYPE rss [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>"
                "<rss><channel><item><title>x</title><description>&xxe;</description></item>"
                "</channel></rss>")
    elif how == "quadratic blowup":
        text = (f"<?xml version='1.0'?><!DOCTYPE rss [<!ENTITY a \"{'x' * 50_000}\">]><rss>"
                f"<channel><item><description>{'&a;' * 2000}</description></item></channel></rss>")
    elif how == "deep":
        depth = draw(st.integers(100, 100_000))
        text = "<rss><channel>" + "<item>" * depth + "</item>" * depth + "</channel></rss>"
    elif how == "atom without entries":
        text = "<feed xmlns='http://www.w3.org/2005/Atom'><title>t</title></feed>"
    elif how == "cut":
        text = f"<rss><channel>{item}{item}</channel></rss>"
        text = text[: draw(st.integers(0, len(text)))]
    else:
        text = f"<rss><channel><item><title>t</title><description><![CDATA[{news_html(r)}]]>" \
               "</description></item></channel></rss>"
    return Case(f"feed ({how})", draw(st.sampled_from([".rss", ".xml", ".atom"])), text.encode())


FAMILIES = {
    "random bytes": random_bytes(), "broken gzip": broken_gzip(), "broken html": broken_html(),
    "hostile json": hostile_json(), "giant lines": giant_lines(),
    "wrong encodings": wrong_encoding(), "hostile csv": hostile_csv(),
    "hostile feeds": hostile_feed(),
}
# giant inputs are slow to generate and to load: fewer of them
WEIGHT = {"giant lines": 0.1, "broken html": 0.5}


# --- running ------------------------------------------------------------------------------
class Hang(BaseException):
    """Raised by the alarm; a BaseException so that no loader's `except Exception` eats it."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def on_alarm(signum, frame):
        raise Hang()

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass
class Tally:
    inputs: int = 0
    articles: int = 0
    skips: Counter = field(default_factory=Counter)
    by_family: Counter = field(default_factory=Counter)
    failures: list[dict[str, Any]] = field(default_factory=list)
    silent: list[dict[str, Any]] = field(default_factory=list)  # neither article nor skip
    slowest: tuple[float, str] = (0.0, "")
    kept: list[Case] = field(default_factory=list)
    kept_per_family: Counter = field(default_factory=Counter)


def check_one(case: Case, folder: Path, tally: Tally, limit: float) -> None:
    """One input through load_file: no exception, no hang, a reason for every skip."""
    from ingest.loaders import load_file
    from rag.types import Article, Skip

    path = folder / f"in{case.suffix}"
    path.write_bytes(case.data)
    tally.inputs += 1
    family = case.family.split(" (")[0]
    tally.by_family[family] += 1
    problem = None
    t0 = time.perf_counter()
    try:
        with time_limit(limit):
            items = list(load_file(path))
    except Hang:
        problem, items = f"no result after {limit} s", []
    except Exception as e:  # noqa: BLE001 - any escape is a finding
        problem, items = f"raised {type(e).__name__}: {e}", []
    took = time.perf_counter() - t0
    if took > tally.slowest[0]:
        tally.slowest = (took, case.family)
    for item in items:
        if isinstance(item, Skip):
            tally.skips[item.reason] += 1
            if not item.reason or item.detail.startswith("internal error"):
                problem = problem or f"skip without a known reason: {item.reason}: {item.detail}"
        elif isinstance(item, Article):
            tally.articles += 1
            if not item.text.strip() or not item.id:
                problem = problem or "an article without text or id"
        else:
            problem = problem or f"yielded a {type(item).__name__}"
    if not items and problem is None:  # ingest.run reports such a file as "no article"
        tally.silent.append({"family": case.family, "suffix": case.suffix,
                             "head": case.data[:80].hex()})
        return
    if problem:
        tally.failures.append({"family": case.family, "suffix": case.suffix,
                               "problem": problem[:300], "head": case.data[:80].hex()})
    elif len(case.data) < 300_000 and tally.kept_per_family[family] < 60:
        tally.kept.append(case)  # for the ingest sample: up to 60 of each family
        tally.kept_per_family[family] += 1


def fuzz_loaders(examples: int, seed_: int, limit: float, tally: Tally) -> None:
    with tempfile.TemporaryDirectory(prefix="newsrag-fuzz-") as tmp:
        folder = Path(tmp)
        for name, strategy in FAMILIES.items():
            n = max(1, int(examples * WEIGHT.get(name, 1.0)))

            @seed(seed_)
            @settings(max_examples=n, deadline=None, database=None, derandomize=False,
                      suppress_health_check=list(HealthCheck))
            @given(strategy)
            def run(case: Case) -> None:
                check_one(case, folder, tally, limit)

            t0 = time.perf_counter()
            before = tally.inputs
            run()
            print(f"{name:16} {tally.inputs - before:5} inputs in "
                  f"{time.perf_counter() - t0:6.1f} s", flush=True)


def fuzz_ingest(cases: list[Case], data_dir: Path, sample: int, seed_: int,
                embedder=None) -> dict[str, Any]:
    """A sample of the inputs (and a few good articles) through a real ingest, twice."""
    from ingest.run import ingest
    from rag.index import Index
    from rag.settings import Settings

    r = random.Random(seed_)
    picked = r.sample(cases, min(sample, len(cases)))
    with tempfile.TemporaryDirectory(prefix="newsrag-fuzz-files-") as tmp:
        folder = Path(tmp)
        for i, case in enumerate(picked):
            (folder / f"f{i:04d}{case.suffix}").write_bytes(case.data)
        good = [record(r) for _ in range(3)]
        (folder / "good.jsonl").write_text("".join(json.dumps(g) + "\n" for g in good))
        index = Index.open(Settings(data_dir=data_dir), embedder)
        try:
            first = ingest(index, [folder])
            second = ingest(index, [folder])
            check = index.verify()
            titles = set(index.catalog.titles())
            stored = {Path(f).name for f in index.catalog.files_of_articles()}
        finally:
            index.close()
        skipped_files = {Path(s.origin.split("#")[0]).name for s in first.skips}
        unaccounted = sorted(p.name for p in folder.iterdir()
                             if p.name not in stored | skipped_files)
    bad = [s for s in first.skips if not s.reason or s.detail.startswith("internal error")]
    return {
        "files_without_article_or_skip": unaccounted,
        "files": first.files, "articles": first.ingested, "skipped": dict(first.skipped),
        "skips_without_reason": len(bad), "consistent": check["consistent"],
        "second_run_chunks": second.chunks, "good_articles_kept": all(
            g["title"] in titles for g in good),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.fuzz", description=__doc__.split("\n")[0])
    p.add_argument("--examples", type=int, default=300, help="inputs per family (weighted)")
    p.add_argument("--ingest-sample", dest="ingest_sample", type=int, default=80)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--limit", type=float, default=20.0, help="seconds allowed per input")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "reliability.json")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO))
    tally = Tally()
    t0 = time.perf_counter()
    fuzz_loaders(args.examples, args.seed, args.limit, tally)
    loaders_s = time.perf_counter() - t0
    print(f"{tally.inputs} inputs through load_file in {loaders_s:.0f} s: {tally.articles} "
          f"articles, {sum(tally.skips.values())} skips, {len(tally.failures)} failures; "
          f"slowest {tally.slowest[0]:.2f} s ({tally.slowest[1]})", flush=True)
    for f in tally.failures[:20]:
        print(f"  FAIL {f['family']} {f['suffix']}: {f['problem']}")
    silent = Counter(f"{s['family']} {s['suffix']}" for s in tally.silent)
    if silent:
        print(f"  {len(tally.silent)} inputs gave neither an article nor a skip from load_file "
              f"(ingest reports them as 'no article'): {dict(silent.most_common(5))}")
    with tempfile.TemporaryDirectory(prefix="newsrag-fuzz-index-") as tmp:
        t1 = time.perf_counter()
        ing = fuzz_ingest(tally.kept, Path(tmp), args.ingest_sample, args.seed)
        ing["seconds"] = round(time.perf_counter() - t1, 1)
    print(f"ingest of {ing['files']} fuzzed files: {ing['articles']} articles, skipped "
          f"{ing['skipped']}, skips without a reason {ing['skips_without_reason']}, "
          f"consistent {ing['consistent']}, second run added {ing['second_run_chunks']} chunks")
    from harness.faults import record as record_section

    report = {
        "what": "hypothesis-generated hostile files through ingest.loaders.load_file, and a "
                "sample through ingest.run.ingest into a real index",
        "inputs": tally.inputs, "by_family": dict(tally.by_family), "articles": tally.articles,
        "skips": dict(tally.skips), "failures": tally.failures[:50],
        "failure_count": len(tally.failures),
        "silent_in_load_file": len(tally.silent),
        "silent_kinds": dict(Counter(f"{x['family']} {x['suffix']}" for x in tally.silent)),
        "slowest_input_s": round(tally.slowest[0], 2), "slowest_family": tally.slowest[1],
        "loader_seconds": round(loaders_s, 1), "ingest_sample": ing, "seed": args.seed,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    record_section("fuzz", report, args.out)
    ok = not tally.failures and not ing["skips_without_reason"] and ing["consistent"] and \
        not ing["files_without_article_or_skip"] and \
        ing["second_run_chunks"] == 0 and ing["good_articles_kept"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
