"""The index: the SQLite catalog (articles, chunks, lexical rows) and the Chroma vectors, in step."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rag.bm25 import MemoryBM25
from rag.catalog import Catalog
from rag.embedders import Embedder, get_embedder
from rag.errors import IndexMismatchError
from rag.settings import Settings
from rag.store import ChromaStore


@dataclass
class Index:
    settings: Settings
    catalog: Catalog
    store: ChromaStore
    embedder: Embedder
    _bm25: MemoryBM25 | None = field(default=None, repr=False)

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> Index:
        embedder = embedder or get_embedder(
            settings.embedder, settings.embedder_model, settings.embed_batch
        )
        catalog = Catalog(settings.catalog_path)
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
        return cls(settings, catalog, store, embedder)

    @property
    def bm25(self) -> MemoryBM25:
        """The lexical index questions are answered from, loaded (or built) on first use."""
        if self._bm25 is None:
            self._bm25 = MemoryBM25(self.catalog, self.settings.bm25_path)
        return self._bm25

    @property
    def readonly(self) -> bool:
        return self.catalog.readonly

    def recover(self) -> list[str]:
        """Roll back articles a crash left half-written: no orphan vectors, no partial rows."""
        pending = self.catalog.pending_articles()
        if pending:
            self.store.delete_articles(pending)
            self.catalog.remove_articles(pending)
        return pending

    def remove_articles(self, article_ids: list[str]) -> None:
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
        # chunks of no finished article, and articles whose chunk count is not what was written
        orphans, short = self.catalog.db.execute(
            "SELECT (SELECT COUNT(*) FROM chunks c LEFT JOIN articles a ON a.id = c.article_id "
            "WHERE a.id IS NULL OR a.state != 'done'), (SELECT COUNT(*) FROM articles a WHERE "
            "a.state = 'done' AND a.n_chunks != (SELECT COUNT(*) FROM chunks c "
            "WHERE c.article_id = a.id))").fetchone()
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
            "collection": self.settings.collection,
        }

    def close(self) -> None:
        self.catalog.close()
        self.store.close()
