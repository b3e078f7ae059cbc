"""The generative answerers against a real local model, no fakes: the in-process llamacpp answerer
(llama-cpp-python loading the Qwen2.5-Coder-0.5B GGUF) and the openai answerer talking to a real
`python -m llama_cpp.server` on loopback.

Skipped unless both are there: `python -m harness.localllm install` (the llamacpp extra,
llama-cpp-python[server]) and `python -m harness.localllm fetch qwen0.5b` (the GGUF under
~/.cache/newsrag/models, or NEWSRAG_MODELS_DIR). See docs/generative.md.
"""
from __future__ import annotations

from datetime import date

import pytest

from harness import localllm
from rag.answerers import get_answerer
from rag.errors import ConfigError
from rag.settings import Settings
from rag.types import Chunk, Passage
from tests.conftest import AS_OF

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not localllm.is_fetched("qwen0.5b"), reason=(
        f"the qwen0.5b GGUF is not at {localllm.model_path('qwen0.5b')}: "
        "run `python -m harness.localllm fetch qwen0.5b`")),
]
pytest.importorskip("llama_cpp", reason="llama-cpp-python (the llamacpp extra) is not installed: "
                                        "run `python -m harness.localllm install`")

MODEL = "qwen0.5b"
QUESTION = "How many drivers walked off the job when the Port Calder transit strike began?"
STRIKE = ("PORT CALDER, Oct 5 (Northern Wire) — Buses and trams stood idle across Port Calder on "
          "Monday after 1,850 drivers walked off the job in a dispute over pay and rest breaks, "
          "leaving about 240,000 weekday riders to find other ways to get to work and school.")
RESERVOIR = ("The Ashby reservoir fell to 31% of capacity this week, its lowest level on record, "
             "and the Valley water board said a stage 2 drought order is likely.")


def _passage(n: int, text: str, title: str, published: str) -> Passage:
    chunk = Chunk(id=f"a{n}-0000", article_id=f"a{n}", position=0, text=text, start=0,
                  end=len(text), title=title, source="Test Wire", published=published)
    return Passage(chunk=chunk, score=1.0 / n)


PASSAGES = [
    _passage(1, STRIKE, "Port Calder buses and trams halt as drivers begin strike", "2026-10-05"),
    _passage(2, RESERVOIR, "Ashby reservoir at record low", "2026-09-30"),
]


def _says_1850(text: str) -> bool:
    return "1,850" in text or "1850" in text


@pytest.fixture(scope="module")
def llamacpp_answerer():
    """Built the product's way: the answerer named in the settings, the model path set (a
    small context budget: two or three passages, so that the tests stay quick on 2 cores)."""
    settings = Settings(answerer="llamacpp",
                        llamacpp_model_path=str(localllm.model_path(MODEL)),
                        llm_context_tokens=800)
    return get_answerer("llamacpp", settings)


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    pytest.importorskip("llama_cpp.server.app",
                        reason="llama-cpp-python's server extra is not installed: "
                               "run `python -m harness.localllm install`")
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with localllm.LlamaServer.start(localllm.model_path(MODEL), alias=MODEL, log_path=log,
                                    timeout=300) as server:
        yield server


# ---------------------------------------------------------------- in process (llama-cpp-python)

def test_llamacpp_answerer_streams_the_answer_from_the_passages(llamacpp_answerer):
    pieces = list(llamacpp_answerer.stream(QUESTION, PASSAGES, as_of=date.fromisoformat(AS_OF)))
    text = "".join(pieces)
    assert len(pieces) > 1, "the answer should arrive streamed, in several pieces"
    assert text.strip()
    assert _says_1850(text), text


def test_llamacpp_answerer_answers_through_the_pipeline(llamacpp_answerer, demo_rag):
    """End to end over the demo index: the model's draft streams through the citation check.
    (What a 0.5B model answers over six passages is not asserted: it is a benchmark matter.)"""
    from rag.pipeline import NewsRAG

    rag = NewsRAG(demo_rag.index, answerer=llamacpp_answerer)
    events = list(rag.ask_stream(QUESTION, as_of=AS_OF))
    assert events[0]["event"] == "passages" and events[0]["count"] > 0
    final = events[-1]["data"]
    assert events[-1]["event"] == "answer" and final["answer"].strip()
    numbers = {c["number"] for c in final["citations"]}
    assert numbers <= set(range(1, events[0]["count"] + 1))


def test_llamacpp_answerer_reports_a_missing_model(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        get_answerer("llamacpp", Settings(llamacpp_model_path=str(tmp_path / "none.gguf")))
    with pytest.raises(ConfigError, match="NEWSRAG_LLAMACPP_MODEL_PATH"):
        get_answerer("llamacpp", Settings())


# ---------------------------------------------------------------- a real llama_cpp.server

def test_server_lists_the_model(llama_server):
    assert llama_server.base_url.startswith("http://127.0.0.1:")
    assert MODEL in localllm.get_models(llama_server.base_url)


def test_openai_answerer_streams_from_the_real_server(llama_server):
    settings = Settings(answerer="openai", llm_base_url=llama_server.base_url, llm_model=MODEL,
                        llm_timeout=300)
    answerer = get_answerer("openai", settings)
    pieces = list(answerer.stream(QUESTION, PASSAGES, as_of=date.fromisoformat(AS_OF)))
    text = "".join(pieces)
    assert len(pieces) > 1, "the server should stream server-sent chunks"
    assert text.strip()
    assert _says_1850(text), text
    reply = answerer.complete("Reply with one word: what colour is the sky on a clear day?")
    assert reply.strip()
