"""The index: the catalog (articles, chunks, lexical rows) and the vectors, in step.

It is the only writer of both. An ingest, the feed watcher or the benchmark hands it whole
articles with their chunks (`ArticleWrite`); what a chunk stores, the text the embedder reads
(`embedding_text`) and the metadata the vector store filters on (`chunk_metadata`), is decided
here. A write is two-step and crash-safe: the articles are marked pending in the catalog, their
old vectors deleted, the new ones embedded and upserted, then the catalog commits chunks,
lexical rows and dedup signatures with the articles marked done, in one transaction. A crash in
between leaves pending articles that `recover` rolls back.
"""
from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rag.bm25 import MemoryBM25
from rag.catalog import open_catalog
from rag.dates import published_day
from rag.embedders import Embedder, get_embedder
from rag.errors import IndexMismatchError
from rag.protocols import Catalog, VectorStore
from rag.settings import Settings
from rag.store import ChromaStore
from rag.types import Article, Chunk
from rag.vector_files import VectorLibrary


def embedding_text(chunk: Chunk) -> str:
    """What the embedder reads: the headline as context, then the exact passage."""
    title = " ".join(chunk.title.split()[:30])  # a runaway title must not crowd out the text
    return f"{title}\n\n{chunk.text}" if title else chunk.text


def chunk_metadata(chunk: Chunk) -> dict[str, Any]:
    """What the vector store keeps beside a chunk's vector: what filters and citations read."""
    meta: dict[str, Any] = {
        "article_id": chunk.article_id,
        "position": chunk.position,
        "start": chunk.start,
        "end": chunk.end,
        "title": chunk.title,
    }
    if chunk.source:
        meta["source"] = chunk.source
    if chunk.url:
        meta["url"] = chunk.url
    if chunk.published:
        meta["published"] = chunk.published
    day = published_day(chunk.published)
    if day is not None:
        meta["published_day"] = day
    return meta


@dataclass
class ArticleWrite:
    """One article to (re)write, whole: its chunks replace any it had."""
    article: Article
    file: str | None
    chunks: list[Chunk]
    replaces: bool = False  # it is stored already: its old vectors go first
    bands: Sequence[tuple[int, int]] = ()  # near-duplicate LSH buckets
    signature: bytes | None = None  # its MinHash signature
    vectors: np.ndarray | None = None  # given (the benchmark copies vectors), else embedded


@dataclass
class BatchStats:
    """What writing one batch took: seconds embedding, vectors embedded and vectors reused
    from the vector files."""
    embed_seconds: float = 0.0
    embedded: int = 0
    reused: int = 0


@dataclass
class Index:
    settings: Settings
    catalog: Catalog
    store: VectorStore
    embedder: Embedder
    _bm25: MemoryBM25 | None = field(default=None, repr=False)
    _vector_files: VectorLibrary | None = field(default=None, repr=False)
    _store_seen: tuple | None = field(default=None, repr=False)  # the catalog's, for follow()

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> Index:
        embedder = embedder or get_embedder(
            settings.embedder, settings.embedder_model, settings.embed_batch
        )
        catalog = open_catalog(settings)
        recorded = catalog.get_meta("embedder")
        current = f"{embedder.name}/{embedder.dimension}"
        if recorded is None:
            if not catalog.readonly:
                catalog.set_meta("embedder", current)
        elif recorded != current:
            catalog.close()
            raise IndexMismatchError(
                f"The index in {settings.data_dir} was built with embedder {recorded!r}, but "
                f"{current!r} is configured. Use the same embedder, or another data folder."
            )
        seen = catalog.version()  # before the vectors are opened: a later write is followed
        try:
            store = ChromaStore(
                collection=settings.collection,
                embedder_name=embedder.name,
                dimension=embedder.dimension,
                path=None if settings.chroma_url else settings.chroma_path,
                url=settings.chroma_url,
                read_only=catalog.readonly,
            )
        except BaseException:
            catalog.close()
            raise
        return cls(settings, catalog, store, embedder, _store_seen=seen)

    @property
    def bm25(self) -> MemoryBM25:
        """The lexical index questions are answered from, loaded (or built) on first use."""
        if self._bm25 is None:
            self._bm25 = MemoryBM25(self.catalog, self.settings.bm25_path)
        return self._bm25

    def follow(self) -> None:
        """See what other processes committed since: BM25 follows the catalog by itself, but an
        embedded Chroma client keeps the vector index it loaded, so it is reopened when the
        catalog changed (an ingest writes its vectors before it commits their articles)."""
        if self.settings.chroma_url:
            return
        version = self.catalog.version()
        if version != self._store_seen:
            self.store.reopen()
            self._store_seen = version

    @property
    def readonly(self) -> bool:
        return self.catalog.readonly

    @property
    def vector_files(self) -> VectorLibrary | None:
        """The settings' vector files, opened (and checked against the embedder) on first use."""
        if self._vector_files is None and self.settings.vector_files:
            self._vector_files = VectorLibrary(self.settings.vector_files, self.embedder.name,
                                               self.embedder.dimension)
        return self._vector_files

    def vectors_for(self, texts: Sequence[str]) -> tuple[np.ndarray, BatchStats]:
        """The vectors of these embedding texts: from the vector files where one holds the exact
        text, embedded otherwise."""
        t0 = time.perf_counter()
        library = self.vector_files
        if library is None:
            return self.embedder.embed_batch(list(texts)), BatchStats(
                time.perf_counter() - t0, len(texts), 0)
        vectors, found = library.find(texts)
        todo = np.flatnonzero(~found)
        if len(todo):
            vectors[todo] = self.embedder.embed_batch([texts[i] for i in todo])
        return vectors, BatchStats(time.perf_counter() - t0, len(todo), int(found.sum()))

    # --- writing ----------------------------------------------------------------------------
    @contextmanager
    def writing(self, action: str) -> Iterator[None]:
        """One writer at a time per index: a second one's recovery would roll back the first's
        batch in flight. The lock (a file beside the catalog) goes with the process, killed or
        not (`Catalog.exclusive_writer`). Refused at once on an index opened read-only."""
        if self.readonly:
            raise self.catalog.cannot_write(action)
        with self.catalog.exclusive_writer():
            before = self.catalog.version()
            try:
                yield
            finally:  # this process's own writes need no reopening of its vectors
                if self._store_seen == before:
                    self._store_seen = self.catalog.version()

    def write_batch(self, items: Sequence[ArticleWrite]) -> BatchStats:
        """Write whole articles, crash-safe (see the module's note). Says what embedding took."""
        if not items:
            return BatchStats()
        given = [i.vectors is not None for i in items]
        if any(given) and not all(given):
            raise ValueError("Give vectors for every article of a batch or for none.")
        for i in items:
            if i.vectors is not None and len(i.vectors) != len(i.chunks):
                raise ValueError(f"Article {i.article.id}: {len(i.vectors)} vectors for "
                                 f"{len(i.chunks)} chunks.")
        self.catalog.mark_pending((i.article, i.file) for i in items)
        replaced = [i.article.id for i in items if i.replaces]
        if replaced:
            self.store.delete_articles(replaced)
        chunks = [c for i in items for c in i.chunks]
        if all(given):
            vectors = np.concatenate([i.vectors for i in items]).astype(np.float32)
            stats = BatchStats(0.0, 0, len(chunks))
        else:
            vectors, stats = self.vectors_for([embedding_text(c) for c in chunks])
        self.store.upsert(chunks, vectors, [chunk_metadata(c) for c in chunks])
        self.catalog.commit_articles(
            {i.article.id: i.chunks for i in items},
            [(b, h, i.article.id) for i in items for b, h in i.bands],
            {i.article.id: i.signature for i in items if i.signature is not None},
        )
        return stats

    def recover(self) -> list[str]:
        """Roll back articles a crash left half-written: no orphan vectors, no partial rows."""
        pending = self.catalog.pending_articles()
        if pending:
            self.store.delete_articles(pending)
            self.catalog.remove_articles(pending)
        return pending

    def remove(self, article_ids: Sequence[str]) -> None:
        """Remove articles, vectors first (a crash in between leaves them pending)."""
        if not article_ids:
            return
        # copies skipped as duplicates of these articles must come back on the next ingest
        for path in self.catalog.files_of_duplicates_of(article_ids):
            self.catalog.forget_file(path)
        self.catalog.mark_removing(article_ids)
        self.store.delete_articles(article_ids)
        self.catalog.remove_articles(article_ids)

    def verify(self) -> dict[str, Any]:
        """Chroma, the catalog's chunks and its lexical (FTS) rows must hold the same chunks."""
        in_store = self.store.all_ids()
        in_catalog = self.catalog.all_chunk_ids()
        counts = self.catalog.counts()
        lexical = self.catalog.lexical_check()
        rows = self.catalog.consistency()
        orphans, short = rows["orphan_chunks"], rows["articles_with_wrong_chunk_count"]
        return {
            "consistent": in_store == in_catalog and counts["pending"] == 0 and not orphans
            and not short and lexical["fts_rows_match"]
            and lexical["fts_tokens"] == lexical["fts_tokens_expected"],
            "store_chunks": len(in_store),
            "catalog_chunks": len(in_catalog),
            "orphans_in_store": len(in_store - in_catalog),
            "missing_in_store": len(in_catalog - in_store),
            "pending": counts["pending"],
            "orphan_chunks": orphans,
            "articles_with_wrong_chunk_count": short,
            **lexical,
        }

    def stats(self) -> dict[str, Any]:
        counts = self.catalog.counts()
        first, last = self.catalog.date_range()
        return {
            "articles": counts["articles"],
            "chunks": counts["chunks"],
            "duplicates": counts["duplicates"],
            "files": counts["files"],
            "sources": dict(self.catalog.sources()),
            "date_range": [first, last],
            "embedder": {"name": self.embedder.name, "dimension": self.embedder.dimension},
            "store": self.settings.chroma_url or str(self.settings.chroma_path),
            "catalog": self.settings.catalog_where,
            "collection": self.settings.collection,
        }

    def close(self) -> None:
        self.catalog.close()
        self.store.close()
