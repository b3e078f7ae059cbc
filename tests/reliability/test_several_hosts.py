"""The several-host deployment: the catalog on a real PostgreSQL, the vectors on a real `chroma
run` server, workers with data folders of their own and nothing else shared.

(The ingest and answer suites also run on this deployment: the "postgres" mode of
tests/conftest.py. Here: what only several hosts have.)
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from harness.faults import Target, corpus_v1, corpus_v2, differences, fingerprint, write_corpus
from harness.loadtest import free_port
from ingest.run import ingest
from rag.catalog_postgres import PostgresCatalog
from rag.errors import StoreError
from rag.index import Index
from rag.pipeline import NewsRAG
from rag.settings import Settings
from tests.conftest import DEMO, NEW_STORY, REPO, collection_for

pytestmark = [pytest.mark.server, pytest.mark.postgres]

PASSWORD = "s3cret-Pa55"  # trust authentication ignores it; no message may show it


@pytest.fixture
def hosts(tmp_path, chroma_server, postgres_server):
    """Two workers' settings: their own data folders, one database and one Chroma collection."""
    url = postgres_server.create_database()
    shared = {"chroma_url": chroma_server.url, "collection": collection_for(tmp_path),
              "catalog_url": url.replace("newsrag@", f"newsrag:{PASSWORD}@")}
    yield [Settings(data_dir=tmp_path / f"host-{n}", **shared) for n in "ab"]
    postgres_server.drop_database(url)


def _env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "NEWSRAG_CATALOG_URL": settings.catalog_url,
            "NEWSRAG_CHROMA_URL": settings.chroma_url, "NEWSRAG_COLLECTION": settings.collection,
            "NEWSRAG_RATE_LIMIT_PER_MINUTE": "0"}


def _cli(settings: Settings, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ui.cli", *args, "--data-dir",
                           str(settings.data_dir)], cwd=REPO, env=_env(settings), text=True,
                          capture_output=True, timeout=timeout, check=False)


@pytest.mark.slow
def test_an_article_ingested_on_one_host_is_answered_on_the_other(hosts, tmp_path, embedder):
    a, b = hosts
    first = Index.open(a, embedder)  # host a: the first articles, so that b serves an index
    report = ingest(first, [DEMO / "html" / "harborledger_2026-10-20_mediator-named.html"])
    first.close()
    assert report.ingested == 1
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ui.cli", "serve", "--port",
                             str(port), "--data-dir", str(b.data_dir)], cwd=REPO, env=_env(b),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "host b never served"
            try:
                if httpx.get(url + "/api/health", timeout=5).json().get("articles") == 1:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        feed = tmp_path / "incoming" / "courier.jsonl"
        feed.parent.mkdir()
        feed.write_text(json.dumps(NEW_STORY) + "\n")
        done = _cli(a, "ingest", "--no-progress", str(feed))
        assert done.returncode == 0, done.stderr
        stored = time.monotonic()
        question = {"question": "Who is the architect of the new central library in Tessany?",
                    "as_of": "2026-12-01"}
        while True:
            assert time.monotonic() - stored < 60, "host b never answered about the new article"
            r = httpx.post(url + "/api/ask", json=question, timeout=60)
            assert r.status_code == 200, r.text
            if any(c["url"] == NEW_STORY["url"] for c in r.json()["citations"]):
                assert "Ilse Marbeck" in r.json()["answer"]
                break
            time.sleep(0.2)
        stats = httpx.get(url + "/api/stats", timeout=10).json()
        assert stats["articles"] == 2 and PASSWORD not in json.dumps(stats)
    finally:
        proc.terminate()
        proc.wait(30)
    # nothing of the index lives on either host: the catalog and the vectors are the servers'
    for host in hosts:
        assert not (host.data_dir / "catalog.sqlite3").exists()
        assert not (host.data_dir / "chroma").exists()


def test_one_writer_at_a_time_across_hosts(hosts, tmp_path):
    a, b = hosts
    feed = tmp_path / "in.jsonl"
    feed.write_text(json.dumps(NEW_STORY) + "\n")
    holder = PostgresCatalog(a.catalog_url)
    with holder.exclusive_writer():  # host a's ingest, in flight
        refused = _cli(b, "ingest", "--no-progress", str(feed))
    assert refused.returncode != 0
    assert "Another ingest is writing to postgresql://newsrag@127.0.0.1:" in refused.stderr
    assert PASSWORD not in refused.stderr + refused.stdout
    holder.close()
    done = _cli(b, "ingest", "--no-progress", str(feed))
    assert done.returncode == 0, done.stderr
    check = _cli(b, "stats", "--check", "--json")
    assert check.returncode == 0, check.stderr
    data = json.loads(check.stdout)
    assert data["check"]["consistent"] and data["articles"] == 1, data["check"]
    assert data["catalog"].startswith("postgresql://newsrag@127.0.0.1:")
    assert PASSWORD not in check.stdout + check.stderr


@pytest.fixture
def own_postgres():
    """A PostgreSQL of this test's own, to stop and restart."""
    from harness.postgres import PostgresServer

    folder = Path(tempfile.mkdtemp(prefix="newsrag-pg-"))
    server = PostgresServer.start(folder)
    yield server
    try:
        server.stop("immediate")
    except RuntimeError:
        pass  # stopped by the test
    shutil.rmtree(folder, ignore_errors=True)


def _own_settings(tmp_path, server, chroma_server, name: str) -> Settings:
    url = server.create_database().replace("newsrag@", f"newsrag:{PASSWORD}@")
    return Settings(data_dir=tmp_path / name, chroma_url=chroma_server.url,
                    collection=collection_for(tmp_path / name), catalog_url=url)


def test_the_database_going_away_while_serving_is_a_clear_error_and_service_resumes(
        own_postgres, chroma_server, tmp_path, embedder):
    settings = _own_settings(tmp_path, own_postgres, chroma_server, "served")
    index = Index.open(settings, embedder)
    ingest(index, [DEMO])
    rag = NewsRAG(index)
    question = "Who was appointed to mediate the Port Calder transit strike?"
    before = rag.ask(question, as_of="2026-11-24")
    assert before.citations
    own_postgres.restart()  # every connection cut: the next read reconnects by itself
    assert rag.ask(question, as_of="2026-11-24").text == before.text
    own_postgres.stop("immediate")
    with pytest.raises(StoreError) as err:
        rag.ask("What did the new ferry timetable change?", as_of="2026-11-24")
    text = str(err.value)
    assert "is unreachable" in text and "reconnects on the next request" in text
    assert PASSWORD not in text and "newsrag@127.0.0.1" in text
    own_postgres.start_again()
    assert rag.ask(question, as_of="2026-11-24").text == before.text
    rag.close()


def test_the_database_restarted_during_an_ingest_loses_and_duplicates_nothing(
        own_postgres, chroma_server, tmp_path, embedder, monkeypatch):
    corpus = tmp_path / "corpus"
    write_corpus(corpus, corpus_v1())
    write_corpus(corpus, corpus_v2("fresh"))
    clean_settings = _own_settings(tmp_path, own_postgres, chroma_server, "clean")
    clean = Index.open(clean_settings.replace(ingest_batch_chunks=4), embedder)
    ingest(clean, [corpus])
    clean.close()
    settings = _own_settings(tmp_path, own_postgres, chroma_server, "restarted")
    original = Index.write_batch
    calls = {"n": 0}

    def restarting(self, items):
        calls["n"] += 1
        if calls["n"] == 3:  # the database restarts while this batch is in flight
            own_postgres.restart()
        return original(self, items)

    monkeypatch.setattr(Index, "write_batch", restarting)
    index = Index.open(settings.replace(ingest_batch_chunks=4), embedder)
    with pytest.raises(StoreError, match="unreachable"):
        ingest(index, [corpus])
    monkeypatch.setattr(Index, "write_batch", original)
    rerun = ingest(index, [corpus])  # the same process, once the database is back
    index.close()
    assert rerun.ingested > 0

    def target(s: Settings) -> Target:
        return Target(s.data_dir, s.chroma_url, s.collection, s.catalog_url)

    got = fingerprint(target(settings), embedder)
    assert differences(got, fingerprint(target(clean_settings), embedder)) == []


def test_a_newer_schema_is_refused_and_no_message_shows_the_password(postgres_url):
    catalog = PostgresCatalog(postgres_url)
    catalog.set_meta("schema_version", "99")
    catalog.close()
    with pytest.raises(StoreError, match="schema version 99, newer than this newsrag"):
        PostgresCatalog(postgres_url)
    closed = f"postgresql://newsrag:{PASSWORD}@127.0.0.1:{free_port()}/nothing"
    with pytest.raises(StoreError) as err:
        PostgresCatalog(closed, connect_timeout=2)
    assert "unreachable" in str(err.value) and PASSWORD not in str(err.value)
    assert "postgresql://newsrag@127.0.0.1:" in str(err.value)


def test_a_fresh_database_opened_read_only_says_there_is_no_index(postgres_url):
    with pytest.raises(StoreError, match="no index in the catalog"):
        PostgresCatalog(postgres_url, readonly=True)


@pytest.mark.slow
@pytest.mark.parametrize("step", ["mark_pending", "commit_articles", "record_file",
                                  "remove_articles"])
def test_a_crash_at_a_catalog_step_is_repaired_by_the_next_run(
        step, own_postgres, chroma_server, tmp_path, embedder, monkeypatch):
    """The process dies right after the step (as in tests/reliability/test_crash.py, here with
    the catalog on PostgreSQL): the next run repairs it to what a clean build holds."""
    corpus = tmp_path / "corpus"
    write_corpus(corpus, corpus_v1())
    settings = _own_settings(tmp_path, own_postgres, chroma_server, "crashed")
    index = Index.open(settings.replace(ingest_batch_chunks=4), embedder)
    ingest(index, [corpus])
    v2 = {**corpus_v2("update"), "c.jsonl": None}
    write_corpus(corpus, v2)
    original = getattr(PostgresCatalog, step)

    class Crash(BaseException):
        pass

    def dying(self, *args, **kwargs):
        original(self, *args, **kwargs)
        raise Crash(step)

    monkeypatch.setattr(PostgresCatalog, step, dying)
    with pytest.raises(Crash):
        ingest(index, [corpus], prune=True)
    monkeypatch.setattr(PostgresCatalog, step, original)
    index.close()
    index = Index.open(settings.replace(ingest_batch_chunks=4), embedder)
    ingest(index, [corpus], prune=True)
    index.close()
    clean = _own_settings(tmp_path, own_postgres, chroma_server, "clean")
    index = Index.open(clean.replace(ingest_batch_chunks=4), embedder)
    ingest(index, [corpus], prune=True)
    index.close()

    def target(s: Settings) -> Target:
        return Target(s.data_dir, s.chroma_url, s.collection, s.catalog_url)

    assert differences(fingerprint(target(settings), embedder),
                       fingerprint(target(clean), embedder)) == []


def test_a_worker_restarting_loads_its_postings_snapshot_and_catches_up(hosts, embedder):
    """With no shared disk, each worker keeps its BM25 postings snapshot in its own data folder
    (keyed by the catalog's identity): built from the catalog on its first start, loaded on the
    next, then brought up to date with what other hosts committed meanwhile."""
    a, b = hosts
    writer = Index.open(a, embedder)
    ingest(writer, [DEMO / "html"])
    worker = Index.open(b, embedder)
    assert "build" in worker.bm25.timings and (b.data_dir / "bm25").is_dir()
    worker.close()
    ingest(writer, [DEMO / "text"])  # committed on host a while host b is down
    worker = Index.open(b, embedder)
    postings = worker.bm25
    assert "load" in postings.timings and "build" not in postings.timings
    postings.refresh()
    from rag.bm25 import MemoryBM25

    rebuilt = MemoryBM25(writer.catalog, None)  # what a worker would build from scratch now
    for question in ("Orrin Valley rail tunnel cost", "Port Calder transit strike mediator"):
        got = postings.search(question, 20)
        assert got and got == rebuilt.search(question, 20)
    worker.close()
    writer.close()


def test_the_chroma_server_going_away_while_serving_is_a_clear_error_and_service_resumes(
        postgres_url, tmp_path, embedder):
    from harness.faults import ChromaServer

    vectors = ChromaServer.start(tmp_path / "vectors")
    port = int(vectors.url.rsplit(":", 1)[1])
    settings = Settings(data_dir=tmp_path / "host", chroma_url=vectors.url, collection="served",
                        catalog_url=postgres_url)
    index = Index.open(settings, embedder)
    ingest(index, [DEMO / "html"])
    rag = NewsRAG(index)
    question = "Who was appointed to mediate the Port Calder transit strike?"
    before = rag.ask(question, as_of="2026-11-24")
    assert before.citations
    vectors.stop()
    try:
        with pytest.raises(StoreError, match="Is the Chroma server running"):
            rag.ask(question, as_of="2026-11-24")
        vectors = ChromaServer.start(tmp_path / "vectors", port=port)  # back, same address
        assert rag.ask(question, as_of="2026-11-24").text == before.text
    finally:
        rag.close()
        vectors.stop()
