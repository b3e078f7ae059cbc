"""Issue 11 through the JSON API: follow-ups in the conversation's story, dated story answers,
an outlet the index does not hold, invisible questions."""
from __future__ import annotations

from fastapi.testclient import TestClient

AS_OF = "2026-11-24"
MEDIATOR = "Who was appointed to mediate the Port Calder transit strike?"


def test_follow_up_what_happened_next_through_the_api(client: TestClient) -> None:
    first = client.post("/api/ask", json={"question": MEDIATOR, "as_of": AS_OF}).json()
    assert "Judith Venn" in first["answer"]
    mediated = first["citations"][0]["published"][:10]
    r = client.post("/api/ask", json={"question": "and what happened next?", "as_of": AS_OF,
                                      "history": [[MEDIATOR, first["answer"]]]})
    assert r.status_code == 200, r.text
    data = r.json()
    assert not data["abstained"], data["answer"]
    assert data["citations"] and all(c["published"][:10] > mediated for c in data["citations"])
    assert data["answer"].startswith("On ")  # a story's course is dated


def test_follow_up_through_the_stream_endpoint(client: TestClient) -> None:
    from tests.ui.test_ui_api import parse_sse

    first = client.post("/api/ask", json={"question": MEDIATOR, "as_of": AS_OF}).json()
    r = client.post("/api/ask/stream", json={
        "question": "and what raise did the drivers get in the end?", "as_of": AS_OF,
        "history": [[MEDIATOR, first["answer"]]]})
    assert r.status_code == 200
    events = parse_sse(r.text)
    final = next(d for e, d in events if e == "answer")
    assert "4.5%" in final["answer"]
    assert "".join(d["text"] for e, d in events if e == "delta") == final["answer"]


def test_an_unknown_outlet_is_a_422_naming_the_outlets(client: TestClient) -> None:
    r = client.post("/api/ask", json={"question": "What did the council decide?",
                                      "sources": ["Nonesuch"], "as_of": AS_OF})
    assert r.status_code == 422, r.text
    detail = str(r.json())
    assert "Nonesuch" in detail and "Harbor Ledger" in detail


def test_a_question_of_invisible_characters_is_refused(client: TestClient) -> None:
    r = client.post("/api/ask", json={"question": "\u200b\u200b", "as_of": AS_OF})
    assert r.status_code == 422, r.text
    assert "empty" in str(r.json())


def test_one_as_of_rule_for_the_chat_and_the_api(client: TestClient) -> None:
    """Unpinned, both read "last week" against today; pinned, both use the pinned day; the
    chat shows the day under the answer."""
    from datetime import UTC, datetime

    from tests.ui.conftest import queue_result, respond_data, respond_index
    from ui.chat import as_of_label

    question = "What did the Alderford council decide last week?"
    today = datetime.now(UTC).date().isoformat()
    api = client.post("/api/ask", json={"question": question}).json()
    assert api["as_of"] == today
    fn = respond_index(client)
    for day, expected in (("", today), (AS_OF, AS_OF)):
        status, text = queue_result(client, fn, respond_data(question, day), {},
                                    session=f"asof-{day or 'today'}")
        label = as_of_label(expected)
        assert status == 200 and (label[0].upper() + label[1:]) in text, text[-400:]
    pinned = client.post("/api/ask", json={"question": question, "as_of": AS_OF}).json()
    assert pinned["as_of"] == AS_OF and pinned["answer"] != api["answer"]
