"""`newsrag ask` and `newsrag serve` through the real CLI entry point."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rag.settings import Settings
from ui import commands
from ui.cli import main

MEDIATOR = "Who was appointed to mediate the Port Calder transit strike?"


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ask_prints_answer_and_sources(index_settings: Settings, capsys) -> None:
    code, out, _ = run(capsys, "ask", MEDIATOR, "--data-dir", str(index_settings.data_dir),
                       "--as-of", "2026-11-24")
    assert code == 0
    answer, sources = out.split("\nSources:\n")
    assert "Judith Venn" in answer and "[1]" in answer
    assert sources.startswith("[1] Retired judge Judith Venn named mediator in transit strike "
                              "(Harbor Ledger, 2026-10-20)")
    assert "https://harborledger.example/" in sources and "“The provincial government" in sources


def test_ask_json_and_filters(index_settings: Settings, capsys) -> None:
    code, out, _ = run(capsys, "ask", MEDIATOR, "--json", "--data-dir", str(index_settings.data_dir),
                       "--source", "Metro Daily Post", "--since", "2026-10-01")
    data = json.loads(out)
    assert code == 0 and data["question"] == MEDIATOR
    assert {c["source"] for c in data["citations"]} <= {"Metro Daily Post"}


def test_ask_not_covered_and_errors(index_settings: Settings, capsys) -> None:
    d = str(index_settings.data_dir)
    code, out, _ = run(capsys, "ask", "Who won the 2030 football world cup final?", "--data-dir", d)
    # once, no sources; then the day it was read against
    assert code == 0 and out.startswith("The indexed news does not cover this.\n(as of ")
    assert out.count("\n") == 2 and "Sources" not in out
    code, _, err = run(capsys, "ask", "   ", "--data-dir", d)
    assert code == 2 and "The question is empty" in err
    code, _, err = run(capsys, "ask", "hi", "--data-dir", d, "--since", "yesterday-ish")
    assert code == 2 and "since date" in err


def test_serve_ingests_the_demo_only_when_empty(tmp_path: Path, capsys, monkeypatch) -> None:
    small = tmp_path / "corpus"
    small.mkdir()
    (small / "xss.html").write_bytes(
        (Path(__file__).parents[1] / "fixtures" / "hostile" / "xss.html").read_bytes())
    monkeypatch.setattr(commands, "DEMO_CORPUS", small)
    served: list[dict[str, Any]] = []
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append({"app": app, **kw}))
    argv = ["serve", "--data-dir", str(tmp_path / "index"), "--port", "8123",
            "--ingest-demo-if-empty"]
    code, out, _ = run(capsys, *argv)
    assert code == 0 and "ingesting the demo corpus" in out and "ingested 1 articles" in out
    assert served[0]["host"] == "127.0.0.1" and served[0]["port"] == 8123
    assert served[0]["proxy_headers"] is False  # X-Forwarded-For: the app's trusted_proxies only
    assert {r.path for r in served[0]["app"].routes} >= {"/api/ask", "/widget.js", "/embed"}
    assert '<script src="http://127.0.0.1:8123/widget.js" async></script>' in out
    code, out, _ = run(capsys, *argv)  # not empty any more: no second ingest
    assert code == 0 and "ingest" not in out
