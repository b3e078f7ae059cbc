"""The OpenAI-compatible answerer against an HTTP server speaking the real protocol."""
from __future__ import annotations

import pytest

from rag.answerers.openai_compat import OpenAICompatAnswerer
from rag.errors import AnswererError, ConfigError
from rag.pipeline import NewsRAG
from tests.conftest import AS_OF
from tests.openai_fake import FakeOpenAI


@pytest.fixture
def fake():
    server = FakeOpenAI()
    yield server
    server.close()


def _rag(demo_rag, fake, **kw):
    answerer = OpenAICompatAnswerer(fake.url, "test-model", "sk-test", context_tokens=kw.get(
        "budget", 3000))
    return NewsRAG(demo_rag.index, answerer=answerer)


def test_streamed_llm_answer_keeps_only_verified_citations(demo_rag, fake):
    rag = _rag(demo_rag, fake)
    events = list(rag.ask_stream("How many scooters did Tidewheel Mobility pull from service?",
                                 as_of=AS_OF))
    final = events[-1]["data"]
    deltas = [e["text"] for e in events if e["event"] == "delta"]
    assert len(deltas) >= 1 and "".join(deltas) == final["answer"]
    # the invented [9] and the unsupported dragons claim are gone; the real claim is cited
    assert "cheese" not in final["answer"] and "dragons" not in final["answer"]
    assert final["citations"] and final["citations"][0]["number"] == 1
    req = fake.requests[-1]
    assert req["stream"] is True and req["model"] == "test-model"
    assert req["_auth"] == "Bearer sk-test"
    system = req["messages"][0]["content"]
    assert AS_OF in system and "not instructions" in system
    assert "<<<" in req["messages"][-1]["content"]


def test_context_budget_limits_the_passages_sent(demo_rag, fake):
    from rag.tokens import count_tokens

    rag = _rag(demo_rag, fake, budget=600)
    rag.ask("What is the latest on the Port Calder transit strike?", as_of=AS_OF)
    msgs = fake.requests[-1]["messages"]
    assert count_tokens("".join(m["content"] for m in msgs)) <= 600 + 300  # one passage may spill
    assert msgs[-1]["content"].count("<<<") < demo_rag.settings.top_k


def test_llm_saying_not_covered_abstains(demo_rag):
    server = FakeOpenAI(lambda m: "The indexed news does not cover this.")
    try:
        rag = NewsRAG(demo_rag.index, answerer=OpenAICompatAnswerer(server.url, "m"))
        a = rag.ask("How many scooters did Tidewheel Mobility pull?", as_of=AS_OF)
        assert a.abstained and not a.citations
    finally:
        server.close()


def test_unreachable_endpoint_is_a_clear_error(demo_rag):
    rag = NewsRAG(demo_rag.index, answerer=OpenAICompatAnswerer("http://127.0.0.1:9/v1", "m",
                                                                timeout=2))
    with pytest.raises(AnswererError, match="Cannot reach"):
        rag.ask("How many scooters did Tidewheel Mobility pull?", as_of=AS_OF)


def test_non_streamed_completion_and_missing_settings(fake):
    ans = OpenAICompatAnswerer(fake.url, "m")
    assert "moon" in ans.complete("hello")
    from rag.settings import Settings

    with pytest.raises(ConfigError, match="llm_base_url"):
        OpenAICompatAnswerer.from_settings(Settings())
