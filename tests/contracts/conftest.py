"""Every implementation of a storage protocol (rag/protocols.py), as a fixture parameter: the
contract tests in this folder run once per implementation. A new catalog, vector store or
lexical index joins by adding itself to the lists below."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rag.types import Article, Chunk
from tests.conftest import collection_for


# --- catalogs: a factory of handles on one catalog (a second handle is "another process") -----
def _sqlite(folder: Path, request) -> Callable[..., object]:
    from rag.catalog import SQLiteCatalog

    def open_handle(readonly: bool = False):
        return SQLiteCatalog(folder / "catalog.sqlite3", readonly=readonly)

    return open_handle


def _postgres(folder: Path, request) -> Callable[..., object]:
    from rag.catalog_postgres import PostgresCatalog

    url = request.getfixturevalue("postgres_url")

    def open_handle(readonly: bool = False):
        return PostgresCatalog(url, readonly=readonly)

    return open_handle


CATALOGS = {"sqlite": _sqlite, "postgres": _postgres}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def open_catalog(request, tmp_path):
    """open_catalog(readonly=False) -> a new handle on the same catalog; all closed after."""
    factory = CATALOGS[request.param](tmp_path, request)
    handles = []

    def open_handle(readonly: bool = False):
        h = factory(readonly=readonly)
        handles.append(h)
        return h

    yield open_handle
    for h in handles:
        h.close()


@pytest.fixture
def catalog(open_catalog):
    return open_catalog()


# --- vector stores ---------------------------------------------------------------------------
DIM = 8


def _chroma_embedded(folder: Path, request):
    from rag.store import ChromaStore

    return ChromaStore(collection="contract", embedder_name="contract-test", dimension=DIM,
                       path=folder / "chroma")


def _chroma_server(folder: Path, request):
    from rag.store import ChromaStore

    server = request.getfixturevalue("chroma_server")
    return ChromaStore(collection=collection_for(folder), embedder_name="contract-test",
                       dimension=DIM, url=server.url)


VECTOR_STORES = {"chroma-embedded": _chroma_embedded, "chroma-server": _chroma_server}


@pytest.fixture(params=["chroma-embedded",
                        pytest.param("chroma-server", marks=pytest.mark.server)])
def vector_store(request, tmp_path):
    store = VECTOR_STORES[request.param](tmp_path, request)
    yield store
    store.close()


# --- lexical indexes (over a catalog) --------------------------------------------------------
def _memory_bm25(catalog, folder: Path):
    from rag.bm25 import MemoryBM25

    return MemoryBM25(catalog, folder / "bm25")


def _catalog_fts(catalog, folder: Path):
    from rag.lexical import CatalogFTS

    return CatalogFTS(catalog)


LEXICAL = {"memory-bm25": _memory_bm25, "catalog-fts": _catalog_fts}


@pytest.fixture(params=sorted(LEXICAL))
def make_lexical(request, tmp_path):
    return lambda catalog: LEXICAL[request.param](catalog, tmp_path)


# --- articles written by us ------------------------------------------------------------------
def article(n: int, paragraphs: list[str], *, title: str | None = None, source: str = "Gazette",
            published: str | None = "2026-11-20T08:00:00Z", content_hash: str | None = None,
            external_id: str | None = None) -> tuple[Article, list[Chunk]]:
    """Article n with one chunk per paragraph (offsets into its text, as the chunker gives)."""
    aid = f"art{n:03d}"
    text = "\n\n".join(paragraphs)
    art = Article(aid, title or f"Headline {n}", text, f"https://news.example/{aid}", source, (),
                  published, content_hash or f"hash-{n}-{len(text)}", f"feed.jsonl#{n}",
                  external_id)
    chunks, start = [], 0
    for pos, para in enumerate(paragraphs):
        start = text.index(para, start)
        chunks.append(Chunk(f"{aid}-{pos:04d}", aid, pos, para, start, start + len(para),
                            art.title, art.source, art.published, art.url))
        start += len(para)
    return art, chunks


def store_article(catalog, art: Article, chunks: list[Chunk], file: str | None = "feed.jsonl",
                  bands=(), sig: bytes | None = None) -> None:
    """The two catalog steps of a write, as the index makes them."""
    catalog.mark_pending([(art, file)])
    catalog.commit_articles({art.id: chunks}, [(b, h, art.id) for b, h in bands],
                            {art.id: sig} if sig is not None else {})


def unit(i: int, dim: int = DIM) -> np.ndarray:
    """A unit vector mostly along axis i (mod dim), a little along the next one."""
    v = np.full(dim, 0.01, np.float32)
    v[i % dim] = 1.0
    v[(i + 1) % dim] = 0.2
    return v / np.linalg.norm(v)
