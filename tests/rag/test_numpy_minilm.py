"""The packaged MiniLM computed with numpy (what `newsrag ask` uses) gives the vectors the torch
model gives, so the same passages and answers, and a cold `newsrag ask` never imports torch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.embedders import NumpyMiniLMEmbedder, get_embedder
from rag.index import Index
from rag.pipeline import NewsRAG
from rag.types import answer_to_dict

REPO = Path(__file__).resolve().parents[2]
QUESTIONS = [json.loads(line) for line in (REPO / "demo" / "questions.jsonl").open()]


@pytest.fixture(scope="module")
def light() -> NumpyMiniLMEmbedder:
    return get_embedder("minilm-numpy")  # type: ignore[return-value]


def test_the_vectors_are_the_torch_models(light, embedder, demo_rag) -> None:
    chunks = [p.chunk.text for p in demo_rag.retrieve(QUESTIONS[0]["question"], k=4,
                                                as_of="2026-11-24")]
    texts = [q["question"] for q in QUESTIONS] + chunks + [
        "", "a", "Ünïcödé — “quotes”, 91% on 2026-11-24", "word " * 400]  # empty, long: cut
    ours, theirs = light.embed_batch(texts), embedder.embed_batch(texts)
    assert ours.shape == theirs.shape == (len(texts), 384) and ours.dtype == np.float32
    assert np.abs(ours - theirs).max() < 1e-5
    assert (ours * theirs).sum(1).min() > 0.99999
    assert light.count_tokens(texts) == embedder.count_tokens(texts)
    assert (light.name, light.dimension, light.max_tokens) == (
        embedder.name, embedder.dimension, embedder.max_tokens)


def test_the_demo_questions_get_the_same_answers(light, demo_settings, demo_rag) -> None:
    rag = NewsRAG(Index.open(demo_settings, light))
    try:
        for q in QUESTIONS[::2]:  # every other one, each story and kind (all 41: identical)
            ours = answer_to_dict(rag.ask(q["question"], as_of=q["as_of"]))
            theirs = answer_to_dict(demo_rag.ask(q["question"], as_of=q["as_of"]))
            assert ours["answer"] == theirs["answer"], q["question"]
            assert ([c["chunk_id"] for c in ours["citations"]]
                    == [c["chunk_id"] for c in theirs["citations"]])
    finally:
        rag.close()


def test_a_cold_ask_never_imports_torch(demo_settings) -> None:
    code = ("import sys; from ui.cli import main; "
            f"status = main(['ask', 'Who was appointed to mediate the Port Calder transit "
            f"strike?', '--data-dir', {str(demo_settings.data_dir)!r}, '--as-of', "
            "'2026-11-24']); "
            "heavy = sorted(m for m in ('torch', 'transformers', 'sentence_transformers', "
            "'sklearn') if m in sys.modules); print('HEAVY', heavy); sys.exit(status)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=300, check=False,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr
    assert "Judith Venn" in done.stdout
    assert "HEAVY []" in done.stdout, done.stdout


def test_another_model_is_refused() -> None:
    from rag.errors import ConfigError

    with pytest.raises(ConfigError, match="packaged all-MiniLM-L6-v2 only"):
        NumpyMiniLMEmbedder("some/other-model")
