"""Chroma behind one small interface: embedded (PersistentClient) or a server (HttpClient)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlsplit

import numpy as np

from rag.errors import IndexMismatchError, StoreError
from rag.types import Chunk


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    distance: float
    metadata: dict[str, Any]


def chunk_metadata(chunk: Chunk, published_day: int | None) -> dict[str, Any]:
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
    if published_day is not None:
        meta["published_day"] = published_day
    return meta


class ChromaStore:
    """One collection of chunk vectors, which remembers the embedder that built it."""

    def __init__(
        self,
        *,
        collection: str,
        embedder_name: str,
        dimension: int,
        path: Path | None = None,
        url: str | None = None,
    ):
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        try:
            if url:
                parts = urlsplit(url if "://" in url else f"http://{url}")
                self.client = chromadb.HttpClient(
                    host=parts.hostname or "127.0.0.1",
                    port=parts.port or 8000,
                    ssl=parts.scheme == "https",
                    settings=chroma_settings,
                )
            else:
                assert path is not None
                path.mkdir(parents=True, exist_ok=True)
                self.client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
            self.collection = self.client.get_or_create_collection(
                name=collection,
                metadata={"embedder": embedder_name, "dimension": dimension, "hnsw:space": "cosine"},
                embedding_function=None,
            )
        except Exception as e:  # chromadb raises many kinds; all mean the store is unusable
            where = url or path
            raise StoreError(f"Cannot open the Chroma collection {collection!r} at {where}: {e}") from e
        meta = self.collection.metadata or {}
        if meta.get("embedder") != embedder_name or int(meta.get("dimension", -1)) != dimension:
            raise IndexMismatchError(
                f"The index {collection!r} was built with embedder {meta.get('embedder')!r} "
                f"({meta.get('dimension')} dims), but {embedder_name!r} ({dimension} dims) is "
                "configured. Use the same embedder, or another collection/data folder."
            )
        self.embedder_name = embedder_name
        self.dimension = dimension

    def upsert(
        self, chunks: Sequence[Chunk], vectors: np.ndarray, metadatas: Sequence[dict[str, Any]]
    ) -> None:
        if not chunks:
            return
        step = 2000  # stay below Chroma's max batch size
        for i in range(0, len(chunks), step):
            part = chunks[i : i + step]
            self.collection.upsert(
                ids=[c.id for c in part],
                embeddings=vectors[i : i + step],
                documents=[c.text for c in part],
                metadatas=list(metadatas[i : i + step]),
            )

    def delete_articles(self, article_ids: Sequence[str]) -> None:
        for i in range(0, len(article_ids), 200):
            part = list(article_ids[i : i + 200])
            where = {"article_id": part[0]} if len(part) == 1 else {"article_id": {"$in": part}}
            self.collection.delete(where=where)

    def delete_ids(self, ids: Sequence[str]) -> None:
        for i in range(0, len(ids), 1000):
            self.collection.delete(ids=list(ids[i : i + 1000]))

    def query(self, vector: np.ndarray, n: int, where: dict | None = None) -> list[Hit]:
        if self.count() == 0:
            return []
        res = self.collection.query(
            query_embeddings=[vector], n_results=n, where=where or None,
            include=["distances", "metadatas"],
        )
        return [
            Hit(cid, float(d), dict(m or {}))
            for cid, d, m in zip(res["ids"][0], res["distances"][0], res["metadatas"][0])
        ]

    def count(self) -> int:
        return self.collection.count()

    def all_ids(self, page: int = 5000) -> set[str]:
        """Every id, paged: a single get() over tens of thousands of ids fails in SQLite."""
        ids: set[str] = set()
        offset = 0
        while True:
            got = self.collection.get(limit=page, offset=offset, include=[])
            ids.update(got["ids"])
            if len(got["ids"]) < page:
                return ids
            offset += page
