"""Issue 39's small ones, as a newcomer meets them: the 429's wait, a GET on a POST route, the
CLI's ingest summary, `stats --check`, and what `newsrag ask` prints under its answer."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag.settings import Settings
from ui.cli import main

MEDIATOR = "Who was appointed to mediate the Port Calder transit strike?"
DEMO = Path(__file__).resolve().parents[2] / "demo" / "corpus"
# a quoted statement of two sentences: the answer's sentence is the first, inside the quote
FERRY = {
    "title": "Night ferry to Kessock to stop in December", "source": "Firth Herald",
    "published": "2026-11-20T08:00:00Z", "url": "https://firth.example/night-ferry",
    "text": "The harbour board met on Thursday to review the winter timetable. Harbour master "
            "Elin Stroud told reporters: \u201cThe night ferry to Kessock will stop running on "
            "1 December. We simply have no crew left for it.\u201d The board will look at the "
            "timetable again in the spring.",
}


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_429_never_says_try_again_in_0_s(make_app: Any) -> None:
    import time

    app = make_app(rate_limit_per_minute=1)
    app.state.limiter.window = 2.0
    with TestClient(app) as c:
        start = time.monotonic()
        # a blank question is counted, then refused (422): fast, so the timing below holds
        assert c.post("/api/ask", json={"question": " "}).status_code == 422
        time.sleep(max(0.0, start + 1.7 - time.monotonic()))  # allowed again in ~0.3 s
        r = c.post("/api/ask", json={"question": " "})
    assert r.status_code == 429
    wait = re.search(r"Try again in (\d+) s", r.json()["detail"])
    assert wait and int(wait.group(1)) >= 1, r.json()["detail"]
    assert wait.group(1) == r.headers["Retry-After"]


def test_a_wrong_method_on_the_api_is_405_with_allow(client: TestClient) -> None:
    """The chat is mounted at /: a GET /api/ask must not fall through to it as a 404."""
    for path in ("/api/ask", "/api/ask/stream"):
        r = client.get(path)
        assert (r.status_code, r.headers.get("allow")) == (405, "POST"), (path, r.text)
        assert "POST" in r.json()["detail"]
    r = client.post("/api/health", json={})
    assert (r.status_code, r.headers.get("allow")) == (405, "GET")
    assert client.get("/api/nothing-here").status_code == 404


def test_ingest_summary_and_stats_check_read_as_words(tmp_path: Path, capsys) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    page = next(DEMO.rglob("*.html"))
    (corpus / "a.html").write_bytes(page.read_bytes())
    (corpus / "copy-of-a.html").write_bytes(page.read_bytes())
    d = str(tmp_path / "idx")
    code, out, _ = run(capsys, "ingest", str(corpus), "--data-dir", d, "--no-progress")
    assert code == 0
    summary = out.splitlines()[0]
    assert re.search(r"duplicates 1 \(exact 1\), removed 0,", summary), summary
    assert "{" not in summary and " ," not in summary
    code, out, _ = run(capsys, "stats", "--check", "--data-dir", d)
    check = next(line for line in out.splitlines() if line.startswith("check"))
    assert code == 0 and "{" not in check and "'" not in check
    assert re.fullmatch(r"check +consistent: (\d+) chunks in Chroma and in the catalog, \1 "
                        r"full-text rows", check), check


def test_the_cli_answer_says_the_day_it_was_read_against(index_settings: Settings,
                                                         capsys) -> None:
    d = str(index_settings.data_dir)
    code, out, _ = run(capsys, "ask", MEDIATOR, "--data-dir", d, "--as-of", "2026-11-24")
    assert code == 0 and "\n(as of 24 November 2026)\n" in out.split("Sources:")[0]
    code, out, _ = run(capsys, "ask", "Who won the 2030 football world cup final?",
                       "--data-dir", d)
    assert code == 0 and out.startswith("The indexed news does not cover this.\n(as of ")
    assert ": today; --as-of YYYY-MM-DD" in out


def _blocks(out: str) -> dict[int, str]:
    """The CLI's Sources section, per citation number: its lines joined, spaces collapsed."""
    blocks: dict[int, str] = {}
    number = None
    for line in out.split("\nSources:\n", 1)[1].splitlines():
        if m := re.match(r"\[(\d+)\] ", line):
            number = int(m.group(1))
        if number is not None:
            blocks[number] = blocks.get(number, "") + " " + line.strip()
    return {n: " ".join(text.split()) for n, text in blocks.items()}


def test_each_source_quotes_every_sentence_its_claims_rest_on(index_settings: Settings,
                                                             capsys) -> None:
    """The mediator answer cites [2] twice, for two different sentences of one passage."""
    d = str(index_settings.data_dir)
    args = ("ask", MEDIATOR, "--data-dir", d, "--as-of", "2026-11-24")
    _, out, _ = run(capsys, *args)
    _, raw, _ = run(capsys, *args, "--json")
    data = json.loads(raw)
    blocks = _blocks(out)
    passages = {c["number"]: c["passage"] for c in data["citations"]}
    used = [(span["citation"], span["start"], span["end"])
            for s in data["sentences"] for span in s["spans"]]
    assert len({(n, a) for n, a, _ in used}) > len(passages)  # a passage used by two claims
    for n, a, b in used:
        quote = " ".join(passages[n][a:b].split())
        assert quote in blocks[card_number(data, n)], (n, quote, blocks)


def card_number(data: dict, n: int) -> int:
    """The printed source of passage [n] of the JSON: one per article, in order of first use."""
    articles = list(dict.fromkeys(c["article_id"] for c in data["citations"]))
    return articles.index(next(c["article_id"] for c in data["citations"]
                               if c["number"] == n)) + 1


LUMEN = "On what date did Lumen-1 finally launch after its first attempt was scrubbed?"


def test_the_cli_prints_one_source_per_article(index_settings: Settings, capsys) -> None:
    """Two passages of one article: one source, quoting the sentences of both."""
    args = ("ask", LUMEN, "--data-dir", str(index_settings.data_dir), "--as-of", "2026-11-24")
    _, out, _ = run(capsys, *args)
    _, raw, _ = run(capsys, *args, "--json")
    data = json.loads(raw)
    articles = list(dict.fromkeys(c["article_id"] for c in data["citations"]))
    assert len(articles) < len(data["citations"])  # the JSON keeps one citation per passage
    blocks = _blocks(out)
    assert sorted(blocks) == list(range(1, len(articles) + 1))
    titles = [b.split("] ", 1)[1].split(" (")[0] for b in blocks.values()]
    assert len(set(titles)) == len(titles)
    answer = out.split("Sources:")[0]
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer)} == set(blocks)
    for s in data["sentences"]:
        for span in s["spans"]:
            passage = data["citations"][span["citation"] - 1]["passage"]
            quote = " ".join(passage[span["start"]:span["end"]].split())
            assert quote in blocks[card_number(data, span["citation"])]


def test_a_quote_does_not_end_inside_an_open_quotation(make_settings: Any, embedder: Any,
                                                      tmp_path: Path, capsys) -> None:
    from ingest.run import ingest
    from rag.index import Index

    settings = make_settings()
    feed = tmp_path / "ferry.jsonl"
    feed.write_text(json.dumps(FERRY) + "\n", encoding="utf-8")
    index = Index.open(settings, embedder)
    ingest(index, [feed])
    index.close()
    code, out, _ = run(capsys, "ask", "When will the night ferry to Kessock stop running?",
                       "--data-dir", str(settings.data_dir), "--as-of", "2026-11-24")
    answer = " ".join(out.split("Sources:")[0].split())
    assert code == 0 and "1 December." in answer
    # the answer's sentence is the quotation's first: it says the quote goes on, and closes it
    assert answer.count("\u201c") == answer.count("\u201d") and "1 December. \u2026\u201d" in answer
    quote = _blocks(out)[1].split("\u201c", 1)[1]  # the CLI's own opening mark, then the quote
    assert quote.count("\u201c") == quote.count("\u201d") - 1, quote  # each quote closed, and ours
    assert "We simply have no crew left for it." in quote


def test_serve_refuses_a_port_in_use_naming_the_setting(tmp_path: Path, capsys) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = run(capsys, "serve", "--port", str(port), "--data-dir",
                             str(tmp_path / "idx"), "--ingest-demo-if-empty")
    assert code == 2 and out == ""  # said before anything else: no URL, no demo ingest
    assert f"Port {port} on 127.0.0.1 is in use" in err and "NEWSRAG_PORT" in err
    assert not (tmp_path / "idx").exists()


def test_serve_exits_2_when_the_port_is_taken_after_the_check(
        index_settings: Settings, capsys, monkeypatch) -> None:
    """The port taken between the check and uvicorn's bind: uvicorn's exit 3 becomes ours, 2."""
    import socket

    from ui import commands

    monkeypatch.setattr(commands, "check_port", lambda host, port: None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run(capsys, "serve", "--port", str(port), "--data-dir",
                           str(index_settings.data_dir))
    assert code == 2 and "NEWSRAG_PORT" in err
