"""The OpenAI-compatible door through the official `openai` client, against a real uvicorn
over the demo index: models, answers plain and streamed, a follow-up turn, citations from the
extra field, errors in OpenAI's shape, the API key."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from fastapi import FastAPI

from tests.ui.conftest import LiveServer, free_port

AS_OF = "2026-11-24"
MEDIATOR = "Who was appointed to mediate the Port Calder transit strike?"
KEY = "s3cret"


@pytest.fixture(scope="module")
def server(make_app: Callable[..., FastAPI]) -> Iterator[LiveServer]:
    with LiveServer(make_app(rate_limit_per_minute=0), free_port()) as live:
        yield live


@pytest.fixture(scope="module")
def ai(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0,
                         timeout=120)


def ask(ai: openai.OpenAI, messages: list[dict[str, str]], **kw: Any) -> Any:
    return ai.chat.completions.create(model="newsrag", messages=messages,
                                      extra_body={"newsrag": {"as_of": AS_OF}}, **kw)


def test_models_lists_newsrag(ai: openai.OpenAI) -> None:
    assert [m.id for m in ai.models.list()] == ["newsrag"]
    assert ai.models.retrieve("newsrag").owned_by == "newsrag"


def test_an_answer_with_its_citations_in_the_extra_field(ai: openai.OpenAI) -> None:
    done = ask(ai, [{"role": "system", "content": "Be brief."},
                    {"role": "user", "content": MEDIATOR}])
    text = done.choices[0].message.content
    assert "Judith Venn" in text and "[1]" in text and done.choices[0].finish_reason == "stop"
    extra = done.model_extra["newsrag"]
    assert extra["answer"] == text and not extra["abstained"] and extra["as_of"] == AS_OF
    first = extra["citations"][0]
    assert first["number"] == 1 and first["title"] and first["source"] and first["url"]
    a, b = first["span_start"] - first["chunk_start"], first["span_end"] - first["chunk_start"]
    assert "Venn" in first["passage"][a:b]  # the supporting sentence, within the passage


def test_streamed_pieces_add_up_to_the_answer(ai: openai.OpenAI) -> None:
    plain = ask(ai, [{"role": "user", "content": MEDIATOR}]).choices[0].message.content
    chunks = list(ask(ai, [{"role": "user", "content": MEDIATOR}], stream=True))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop" and len(chunks) >= 3
    assert text == plain == last.model_extra["newsrag"]["answer"]
    assert last.model_extra["newsrag"]["citations"][0]["number"] == 1


def test_a_follow_up_turn_reads_the_conversation(ai: openai.OpenAI) -> None:
    first = ask(ai, [{"role": "user", "content": MEDIATOR}])
    mediated = first.model_extra["newsrag"]["citations"][0]["published"][:10]
    then = ask(ai, [{"role": "user", "content": MEDIATOR},
                    {"role": "assistant", "content": first.choices[0].message.content},
                    {"role": "user", "content": "and what happened next?"}])
    extra = then.model_extra["newsrag"]
    assert not extra["abstained"], extra["answer"]
    assert all(c["published"][:10] > mediated for c in extra["citations"])
    alone = ask(ai, [{"role": "user", "content": "and what happened next?"}])
    assert alone.choices[0].message.content != then.choices[0].message.content


def test_a_question_off_the_news_abstains(ai: openai.OpenAI) -> None:
    done = ask(ai, [{"role": "user", "content": "What is the boiling point of tungsten?"}])
    assert done.model_extra["newsrag"]["abstained"]
    assert done.choices[0].message.content == "The indexed news does not cover this."


@pytest.mark.parametrize("kw, error, words", [
    ({"model": "gpt-4o"}, openai.NotFoundError, "has one model, 'newsrag'"),
    ({"messages": [{"role": "user", "content": MEDIATOR}, {"role": "assistant", "content": "x"}]},
     openai.BadRequestError, "must be the user's question"),
    ({"extra_body": {"newsrag": {"sources": ["Nonesuch"]}}}, openai.BadRequestError,
     "Harbor Ledger"),
    ({"extra_body": {"newsrag": {"since": "2026-11-30", "until": "2026-11-01"}}},
     openai.BadRequestError, "'since' 2026-11-30 is after 'until' 2026-11-01"),
    ({"extra_body": {"newsrag": {"outlet": "x"}}}, openai.BadRequestError,
     "newsrag.outlet: not one of the filters (as_of, since, sources, until)"),
    ({"extra_body": {"newsrag": {"question": "x"}}}, openai.BadRequestError, "newsrag.question"),
    ({"extra_body": {"newsrag": {"as_of": "next tuesday"}}}, openai.BadRequestError,
     "newsrag.as_of"),
    ({"messages": [{"role": "user", "content": "\u200b"}]}, openai.BadRequestError, "empty"),
    ({"n": 2}, openai.BadRequestError, "n:"),
])
def test_errors_take_openais_shape(ai: openai.OpenAI, kw: dict, error: type,
                                   words: str) -> None:
    args = {"model": "newsrag", "messages": [{"role": "user", "content": MEDIATOR}], **kw}
    with pytest.raises(error) as caught:
        ai.chat.completions.create(**args)
    body = caught.value.body
    assert words in body["message"], body
    assert body["type"] in ("invalid_request_error", "not_found_error")


def test_a_bad_body_is_a_400_in_openais_shape(server: LiveServer) -> None:
    r = httpx.post(server.url + "/v1/chat/completions", content=b"{not json",
                   headers={"Content-Type": "application/json"}, timeout=60)
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    r = httpx.post(server.url + "/v1/chat/completions", json={"model": "newsrag"}, timeout=60)
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages"


def test_the_key_protects_the_openai_door(make_app: Callable[..., FastAPI]) -> None:
    with LiveServer(make_app(api_key=KEY, rate_limit_per_minute=0), free_port()) as live:
        for key in ("wrong", None):
            r = httpx.get(live.url + "/v1/models", timeout=60, headers={
                "Authorization": f"Bearer {key}"} if key else {})
            assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
            assert r.headers["www-authenticate"] == "Bearer"
        wrong = openai.OpenAI(base_url=live.url + "/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            ask(wrong, [{"role": "user", "content": MEDIATOR}])
        with pytest.raises(openai.AuthenticationError):
            list(ask(wrong, [{"role": "user", "content": MEDIATOR}], stream=True))
        right = openai.OpenAI(base_url=live.url + "/v1", api_key=KEY, max_retries=0)
        assert "Judith Venn" in ask(right, [{"role": "user", "content": MEDIATOR}]).choices[
            0].message.content


def test_the_load_harness_loads_both_endpoints(server: LiveServer) -> None:
    """harness.loadtest's clients get checked answers from /api/ask and /v1/chat/completions,
    plain and streamed."""
    from harness.loadtest import run_load
    from tests.ui.test_mcp_door import run_async

    for endpoint in ("api", "openai"):
        for stream in (False, True):
            results, _ = run_async(lambda e=endpoint, s=stream: run_load(server.url, 2, 1.0, s, e))
            assert results and all(r["ok"] for r in results), (endpoint, stream, results[:2])
