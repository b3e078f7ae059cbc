"""Shared fixtures: the real packaged embedder (loaded once), real Chroma and catalog in temp folders."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo" / "corpus"
FIXTURES = REPO / "tests" / "fixtures"
SHARED = REPO.parent / "shared"
AS_OF = "2026-11-24"


@pytest.fixture(scope="session")
def embedder():
    from rag.embedders import get_embedder

    return get_embedder("minilm")


@pytest.fixture(scope="session")
def demo_settings(tmp_path_factory, embedder):
    """A real index of the demo corpus and the hostile fixtures, built once per test session.
    Tests must not write to it: copy or build their own for that."""
    from ingest.run import ingest
    from rag.index import Index
    from rag.settings import Settings

    settings = Settings(data_dir=tmp_path_factory.mktemp("demo-index"))
    index = Index.open(settings, embedder)
    report = ingest(index, [DEMO, FIXTURES / "hostile"])
    index.close()
    assert report.ingested >= 28, report.to_dict()
    return settings


@pytest.fixture(scope="session")
def demo_rag(demo_settings, embedder):
    from rag.index import Index
    from rag.pipeline import NewsRAG

    rag = NewsRAG(Index.open(demo_settings, embedder))
    yield rag
    rag.close()


@pytest.fixture
def make_settings(tmp_path):
    from rag.settings import Settings

    def make(**kw):
        return Settings(data_dir=tmp_path / "idx", **kw)

    return make
