"""Odd dates and characters through the real app, the chat and the CLI: an answer or a 4xx with
a JSON body, never a 5xx or a traceback."""
from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag.settings import Settings
from tests.ui.conftest import queue_result, respond_data, respond_index, strict_json
from tests.ui.test_ui_api import parse_sse
from ui.cli import main

ODD_DATES = [  # (question, as_of): the probes of issue 12
    ("What did the council decide in 9999?", None),
    ("What happened in the past 1000000 days?", None),
    ("What happened in 0000?", None),
    ("What happened last week?", "0001-01-01"),
    ("What happened yesterday?", "0001-01-01"),
    ("Any news today?", "9999-12-31"),
    ("What happened on June 31 in 9999?", "9999-12-31"),
]


@pytest.mark.parametrize("question, as_of", ODD_DATES)
def test_odd_dates_are_answered(client: TestClient, question: str, as_of: str | None) -> None:
    body = {"question": question, "as_of": as_of}
    r = client.post("/api/ask", json=body)
    assert r.status_code == 200, r.text
    assert strict_json(r)["answer"]
    with client.stream("POST", "/api/ask/stream", json=body) as r:
        assert r.status_code == 200
        events = parse_sse(r.read().decode())
    assert events[0][0] == "passages" and events[-1][0] == "answer"


def test_an_ignored_phrase_is_noted(client: TestClient) -> None:
    with client.stream("POST", "/api/ask/stream", json={
            "question": "What happened last week?", "as_of": "0001-01-01"}) as r:
        passages = parse_sse(r.read().decode())[0][1]
    assert passages["dates"] == ("any date (ignored 'last week': dates run from 0001-01-01 to "
                                 "9999-12-31)")


@pytest.mark.parametrize("question, as_of", ODD_DATES[:4])
def test_odd_dates_in_the_chat(client: TestClient, question: str, as_of: str | None) -> None:
    status, text = queue_result(client, respond_index(client), respond_data(question, as_of or ""), {},
                                session=f"odd-{abs(hash(question))}")
    assert status == 200 and "process_completed" in text
    assert "Something went wrong" not in text and "does not cover" in text


@pytest.mark.parametrize("question, as_of", ODD_DATES[:4])
def test_odd_dates_in_the_cli(index_settings: Settings, capsys: Any, question: str,
                              as_of: str | None) -> None:
    argv = ["ask", question, "--data-dir", str(index_settings.data_dir), "--json"]
    code = main(argv + (["--as-of", as_of] if as_of else []))
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in err
    assert json.loads(out)["answer"]


@pytest.mark.parametrize("raw, field, message", [
    (b'{"question": "strike \\ud800 x"}', "question", "valid string"),
    (b'{"question": "x", "since": NaN}', "since", "not a number"),
    (b'{"question": "x", "until": Infinity}', "until", "not a number"),
    (b'{"question": "x", "since": 1e400}', "since", "not a number"),
    (b'{"question": "x", "as_of": 1700000000}', "as_of", "not a number"),
    (b'{"question": "x", "as_of": "0000-01-01"}', "as_of", "out of range: dates run from 0001"),
    (b'{"question": "x", "since": "10000-01-01"}', "since", "out of range: dates run from 0001"),
    (b'{"question": "x", "history": [[NaN, "\\udfff"]]}', "history", ""),
    (b'{"question": "x\xff\xfe"}', "body", "not valid JSON (not UTF-8 text)"),
    (b"[" * 30_000, "body", "not valid JSON (nested too deeply)"),
    (b'{"question": ', "body", "not valid JSON"),
])
def test_unechoable_input_is_a_422_with_json(client: TestClient, raw: bytes, field: str,
                                             message: str) -> None:
    for path in ("/api/ask", "/api/ask/stream"):
        r = client.post(path, content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, (path, r.text)
        detail = strict_json(r)["detail"]
        assert detail.startswith(field) and message in detail, detail


def test_cli_names_the_date_limits(index_settings: Settings, capsys: Any) -> None:
    code = main(["ask", "hi", "--data-dir", str(index_settings.data_dir), "--as-of",
                 "0000-01-01"])
    _, err = capsys.readouterr()
    assert code == 2 and "out of range: dates run from 0001-01-01 to 9999-12-31" in err
