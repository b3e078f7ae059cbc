"""The JSON API through the real app and pipeline: answers, SSE, validation, limits, key, CORS."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

AS_OF = "2026-11-24"
MEDIATOR = "Who was appointed to mediate the Port Calder transit strike?"
OFF_TOPIC = "Who won the 2030 football world cup final?"


def parse_sse(text: str) -> list[tuple[str, Any]]:
    """(event, data) pairs of a server-sent event stream."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


def test_health_and_stats(client: TestClient) -> None:
    stats = client.get("/api/stats").json()
    assert stats["articles"] >= 29 and stats["chunks"] > stats["articles"]
    assert "Harbor Ledger" in stats["sources"] and "Alpine Record" in stats["sources"]
    assert stats["date_range"][0].startswith("2026-09-28")
    health = client.get("/api/health").json()
    assert health == {"status": "ok", "articles": stats["articles"], "chunks": stats["chunks"]}


def test_ask_answers_with_citations(client: TestClient) -> None:
    r = client.post("/api/ask", json={"question": MEDIATOR, "as_of": AS_OF})
    assert r.status_code == 200, r.text
    data = r.json()
    assert "Judith Venn" in data["answer"] and "[1]" in data["answer"]
    assert not data["abstained"]
    c = data["citations"][0]
    assert c["number"] == 1 and c["url"].startswith("https://harborledger.example/")
    assert "Judith Venn" in c["passage"] and c["span_end"] > c["span_start"]


def test_ask_not_covered(client: TestClient) -> None:
    data = client.post("/api/ask", json={"question": OFF_TOPIC}).json()
    assert data["abstained"] is True and data["citations"] == []
    assert "does not cover" in data["answer"]


def test_filters_and_history_shapes(client: TestClient) -> None:
    q = {"question": "And who announced it?", "as_of": AS_OF, "sources": ["Harbor Ledger"],
         "since": "2026-10-01", "until": "2026-10-31"}
    for history in ([[MEDIATOR, "Judith Venn [1]"]],
                    [{"role": "user", "content": MEDIATOR},
                     {"role": "assistant", "content": "Judith Venn [1]"}]):
        data = client.post("/api/ask", json=q | {"history": history}).json()
        assert "Port Calder" in data["query"]  # the follow-up was condensed with the history
        assert {c["source"] for c in data["citations"]} <= {"Harbor Ledger"}
        assert all("2026-10-01" <= c["published"][:10] <= "2026-10-31" for c in data["citations"])


def test_stream_events(client: TestClient) -> None:
    with client.stream("POST", "/api/ask/stream", json={"question": MEDIATOR}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(r.read().decode())
    names = [n for n, _ in events]
    assert names[0] == "passages" and names[-1] == "answer" and "delta" in names
    streamed = "".join(d["text"] for n, d in events if n == "delta")
    final = events[-1][1]
    assert streamed == final["answer"] and final["citations"]


def test_stream_not_covered_resets(client: TestClient) -> None:
    with client.stream("POST", "/api/ask/stream", json={"question": OFF_TOPIC}) as r:
        events = parse_sse(r.read().decode())
    assert events[-1][0] == "answer" and events[-1][1]["abstained"]
    assert ("reset", {"text": events[-1][1]["answer"]}) in events


@pytest.mark.parametrize("body, status, message", [
    ({"question": ""}, 422, "question: String should have at least 1 character"),
    ({"question": "   "}, 422, "the question is blank"),
    ({"question": "x" * 1001}, 422, "the limit is 1000"),
    ({}, 422, "question: Field required"),
    ({"question": 42}, 422, "question: Input should be a valid string"),
    ({"question": "hi", "since": "2026-13-01"}, 422, "since: Input should be a valid date"),
    ({"question": "hi", "since": "2026-11-02", "until": "2026-11-01"}, 422, "is after 'until'"),
    ({"question": "hi", "sources": "Harbor Ledger"}, 422, "sources: Input should be a valid list"),
    ({"question": "hi", "history": [["only one"]]}, 422, "history"),
    ({"question": "hi", "history": [{"role": "system", "content": "x"}]}, 422, "history"),
    ({"question": "hi", "top_k": 5}, 422, "top_k: Extra inputs are not permitted"),
])
def test_validation_errors(client: TestClient, body: dict, status: int, message: str) -> None:
    for path in ("/api/ask", "/api/ask/stream"):
        r = client.post(path, json=body)
        assert r.status_code == status, r.text
        assert message in r.json()["detail"]


def test_malformed_json(client: TestClient) -> None:
    r = client.post("/api/ask", content=b'{"question": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"]


def test_body_too_large(client: TestClient) -> None:
    r = client.post("/api/ask", json={"question": "x" * 40_000})
    assert r.status_code == 413 and "larger than 32768 bytes" in r.json()["detail"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b" " * 1024

    r = client.post("/api/ask", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_rate_limit(make_app: Callable) -> None:
    with TestClient(make_app(rate_limit_per_minute=2)) as c:
        for _ in range(2):
            assert c.post("/api/ask", json={"question": MEDIATOR}).status_code == 200
        r = c.post("/api/ask/stream", json={"question": MEDIATOR})
        assert r.status_code == 429
        assert "2 questions per minute per client" in r.json()["detail"]
        assert int(r.headers["Retry-After"]) >= 1
        assert c.get("/api/health").status_code == 200  # health is not limited


def test_api_key(make_app: Callable) -> None:
    with TestClient(make_app(api_key="s3cret")) as c:
        r = c.post("/api/ask", json={"question": MEDIATOR})
        assert r.status_code == 401 and "X-API-Key" in r.json()["detail"]
        assert c.post("/api/ask", json={"question": MEDIATOR},
                      headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.get("/api/stats").status_code == 401
        assert c.post("/api/ask", json={"question": MEDIATOR},
                      headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.get("/api/stats", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/api/health").status_code == 200


def test_cors_allowed_and_denied(make_app: Callable) -> None:
    good, bad = "https://news.example", "https://evil.example"
    with TestClient(make_app(cors_origins=(good,))) as c:
        pre = c.options("/api/ask/stream", headers={
            "Origin": good, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key"})
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == good
        r = c.post("/api/ask", json={"question": MEDIATOR}, headers={"Origin": good})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == good

        pre = c.options("/api/ask", headers={"Origin": bad, "Access-Control-Request-Method": "POST"})
        assert pre.status_code == 400 and "access-control-allow-origin" not in pre.headers
        r = c.post("/api/ask", json={"question": MEDIATOR}, headers={"Origin": bad})
        assert r.status_code == 403 and "NEWSRAG_CORS_ORIGINS" in r.json()["detail"]
        assert "access-control-allow-origin" not in r.headers


def test_same_origin_only_by_default(client: TestClient) -> None:
    r = client.post("/api/ask", json={"question": MEDIATOR},
                    headers={"Origin": "https://elsewhere.example"})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    r = client.post("/api/ask", json={"question": MEDIATOR}, headers={"Origin": "http://testserver"})
    assert r.status_code == 200


def test_pages_and_docs(client: TestClient) -> None:
    assert "attachShadow" in client.get("/widget.js").text
    embed = client.get("/embed")
    assert 'src="widget.js"' in embed.text and "frame-ancestors *" in embed.headers[
        "content-security-policy"]
    assert "x-frame-options" not in embed.headers
    chat = client.get("/")
    assert chat.status_code == 200 and "gradio" in chat.text.lower()
    spec = client.get("/openapi.json").json()
    assert {"/api/ask", "/api/ask/stream", "/api/health", "/api/stats"} <= set(spec["paths"])
    assert "AskRequest" in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 200


def test_empty_index_is_not_answered_as_if_all_were_well(tmp_path, index_settings) -> None:
    from ui.server import create_app

    with TestClient(create_app(index_settings.replace(data_dir=tmp_path), chat=False)) as c:
        assert c.get("/api/health").json()["status"] == "empty"
        r = c.post("/api/ask", json={"question": MEDIATOR})
        assert r.status_code == 503 and "Nothing is indexed yet" in r.json()["detail"]
        r = c.post("/api/ask/stream", json={"question": MEDIATOR})
        assert r.status_code == 503


def test_docs_assets_are_fixed_files(client) -> None:
    """/docs's packaged files are served by name only: no query parameter picks another file."""
    r = client.get("/docs/swagger-ui.css", params={"name": "../../../../../../etc/passwd"})
    assert r.status_code == 200 and "root:" not in r.text and ".swagger-ui" in r.text
    page = client.get("/docs").text
    assert "cdn.jsdelivr" not in page and "/docs/swagger-ui-bundle.js" in page
