"""Shared fixtures: the real packaged embedder (loaded once), real Chroma and catalog in temp folders.

Chroma runs embedded (a PersistentClient in the test's folder) or, for the modules named in
BOTH_MODES, also as a real `chroma run` server on loopback (marked `server`); the SQLite catalog
stays in the test's own folder either way.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# under CPU contention, spinning OpenMP threads make torch 10x slower (measured)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo" / "corpus"
FIXTURES = REPO / "tests" / "fixtures"
# CI and every checkout keep shared/ beside the repository; a stray clone can point at it
SHARED = Path(os.environ.get("NEWSRAG_SHARED_DIR", REPO.parent / "shared"))
AS_OF = "2026-11-24"
# an article of ours beyond the demo corpus: the one a second host ingests, and a who-question
NEW_STORY = {
    "id": "glassworks-1", "title": "Old glassworks at Tessany Quay to become a library",
    "source": "Tessany Courier", "published": "2026-11-28T09:00:00Z",
    "url": "https://courier.example/glassworks",
    "text": "The derelict glassworks at Tessany Quay will become the town's new central library, "
            "the council decided on Thursday. Architect Ilse Marbeck won the design contest "
            "with a plan that keeps the two brick kilns as reading rooms.\n\nWork is due to "
            "start in March and the library should open in the autumn of 2028. The old "
            "library on Carden Street will close when the new one opens.",
}
# the ingest and answer tests run against both deployments of Chroma
BOTH_MODES = ("tests/ingest/test_run.py", "tests/rag/test_answers.py",
              "tests/reliability/test_concurrency.py", "tests/ingest/test_dump_deployments.py")


# ... and these also against the several-host deployment: the catalog on PostgreSQL, the vectors
# on the Chroma server (the "postgres" mode)
POSTGRES_MODE = ("tests/ingest/test_run.py", "tests/rag/test_answers.py",
                 "tests/ingest/test_dump_deployments.py")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "chroma_mode" not in metafunc.fixturenames:
        return
    modes: list = ["embedded"]
    module = str(metafunc.definition.path.relative_to(REPO))
    if module in BOTH_MODES:
        modes.append(pytest.param("server", marks=pytest.mark.server))
    if module in POSTGRES_MODE:
        modes.append(pytest.param("postgres", marks=[pytest.mark.server, pytest.mark.postgres]))
    metafunc.parametrize("chroma_mode", modes, indirect=True, scope="session")


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A real `chroma run` on a free loopback port for the session, stopped with SIGTERM."""
    from harness.faults import ChromaServer

    try:
        server = ChromaServer.start(tmp_path_factory.mktemp("chroma-server") / "data")
    except FileNotFoundError as e:
        pytest.skip(str(e))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL (Debian's server binaries) on a free loopback port for the session, in
    a folder of its own under /tmp (the server runs as the `postgres` user, which cannot enter
    pytest's root-only folders); each test takes its own database (`postgres_url`)."""
    import shutil
    import tempfile

    from harness.postgres import PostgresServer

    folder = Path(tempfile.mkdtemp(prefix="newsrag-pg-"))
    try:
        server = PostgresServer.start(folder)
    except FileNotFoundError as e:
        shutil.rmtree(folder, ignore_errors=True)
        if os.environ.get("CI"):
            raise  # `make test` installs it: missing in CI is a failure, not a skip
        pytest.skip(str(e))
    yield server
    try:
        server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server):
    """A new, empty database of the session's PostgreSQL, for this test."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(scope="session")
def chroma_mode(request) -> str:
    """"embedded", "server" or "postgres" (see pytest_generate_tests)."""
    return getattr(request, "param", "embedded")


def collection_for(folder: Path) -> str:
    """One server collection per test folder, so tests sharing the server stay apart."""
    return "t" + hashlib.sha1(str(folder).encode()).hexdigest()[:16]


def mode_settings(chroma_mode: str, request, folder: Path) -> dict:
    """The settings that point an index in `folder` at the session's Chroma server (and, in
    "postgres" mode, at a new database of the session's PostgreSQL)."""
    if chroma_mode == "embedded":
        return {}
    out = {"chroma_url": request.getfixturevalue("chroma_server").url,
           "collection": collection_for(folder)}
    if chroma_mode == "postgres":
        out["catalog_url"] = request.getfixturevalue("postgres_server").create_database()
    return out


@pytest.fixture(scope="session")
def embedder():
    from rag.embedders import get_embedder

    return get_embedder("minilm")


@pytest.fixture(scope="session")
def demo_settings(tmp_path_factory, embedder, chroma_mode, request):
    """A real index of the demo corpus and the hostile fixtures, built once per test session
    (and Chroma mode). Tests must not write to it: copy or build their own for that."""
    from ingest.run import ingest
    from rag.index import Index
    from rag.settings import Settings

    folder = tmp_path_factory.mktemp(f"demo-index-{chroma_mode}")
    settings = Settings(data_dir=folder, **mode_settings(chroma_mode, request, folder))
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
def make_settings(tmp_path, chroma_mode, request, monkeypatch):
    """Settings for a fresh index in this test's folder. In server mode the environment names
    the server and collection too, so that CLI subprocesses the test starts use the same one."""
    from rag.settings import Settings

    base = mode_settings(chroma_mode, request, tmp_path)
    if base:
        monkeypatch.setenv("NEWSRAG_CHROMA_URL", base["chroma_url"])
        monkeypatch.setenv("NEWSRAG_COLLECTION", base["collection"])
    if "catalog_url" in base:
        monkeypatch.setenv("NEWSRAG_CATALOG_URL", base["catalog_url"])

    def make(**kw):
        return Settings(data_dir=tmp_path / "idx", **{**base, **kw})

    return make
