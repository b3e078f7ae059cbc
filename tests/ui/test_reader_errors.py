"""Issue 36: an error a reader is shown (chat, widget, API, the other doors) names no server
path, holds no stack trace and no "see the cause above"; the server's log keeps the detail."""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag.errors import AnswererError, InvalidQuestionError, StoreError
from rag.settings import Settings
from ui.errors import MODEL_TROUBLE, STORE_TROUBLE, reader_message

# what a server showed readers before (issue 36), a path and all
ISSUE = ("Read vectors from Chroma at /srv/news/.newsrag/chroma failed: Error executing plan: "
         "Internal error: Error finding id. See the cause above; re-running the ingest rolls "
         "back a half-written batch.")


def _clean(text: str) -> None:
    for leak in ("/srv/news", ".newsrag", "cause above", "Traceback", "Error finding id"):
        assert leak not in text, text


class Broken:
    """A pipeline whose index cannot be read: before any event, or after the first."""

    def __init__(self, late: bool = False):
        self.late = late

    def ask(self, question: str, **kw: Any) -> Any:
        raise StoreError(ISSUE)

    def ask_stream(self, question: str, **kw: Any) -> Iterator[dict]:
        if self.late:
            yield {"event": "passages", "count": 0, "query": question, "dates": ""}
        raise StoreError(ISSUE)


@pytest.fixture
def broken_client(tmp_path) -> Iterator[TestClient]:
    from ui.server import create_app

    settings = Settings(data_dir=tmp_path / "index", rate_limit_per_minute=0)
    with TestClient(create_app(settings, rag=Broken(), chat=False)) as c:
        yield c


def test_the_api_tells_a_reader_plainly_and_logs_the_detail(broken_client, caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="newsrag.server"):
        r = broken_client.post("/api/ask", json={"question": "What did the council decide?"})
    assert r.status_code == 503 and r.json()["detail"] == STORE_TROUBLE
    _clean(r.text)
    assert any("/srv/news/.newsrag/chroma" in rec.getMessage() for rec in caplog.records)
    r = broken_client.post("/api/ask/stream", json={"question": "What did the council decide?"})
    assert r.status_code == 503  # the widget's door, failing before its first event
    _clean(r.text)
    r = broken_client.post("/v1/chat/completions", json={
        "model": "newsrag", "messages": [{"role": "user", "content": "What did they decide?"}]})
    assert r.status_code == 503
    _clean(r.text)


def test_a_stream_that_fails_midway_says_so_plainly(tmp_path) -> None:
    from ui.server import create_app

    settings = Settings(data_dir=tmp_path / "index", rate_limit_per_minute=0)
    with TestClient(create_app(settings, rag=Broken(late=True), chat=False)) as c:
        r = c.post("/api/ask/stream", json={"question": "What did the council decide?"})
    assert r.status_code == 200 and "event: error" in r.text
    error = r.text.split("event: error\ndata: ")[1].split("\n")[0]
    assert json.loads(error)["detail"] == STORE_TROUBLE
    _clean(r.text)


def test_the_chat_tells_a_reader_plainly() -> None:
    from ui.chat import _answered

    messages = [{"role": "user", "content": "What did the council decide?"},
                {"role": "assistant", "content": "Searching…"}]
    for _ in _answered(Broken(), "What did the council decide?", messages, [], [], None, "",
                       "", None):
        pass
    assert messages[-1]["content"].startswith("**Cannot answer:**")
    assert "The news index cannot be read just now" in messages[-1]["content"]
    _clean(messages[-1]["content"])


def test_a_readers_own_mistake_is_still_said_as_it_is() -> None:
    assert reader_message(InvalidQuestionError("The question is empty.")) == (
        "The question is empty.")
    assert reader_message(AnswererError("http://10.0.0.5:11434/v1 refused")) == MODEL_TROUBLE
