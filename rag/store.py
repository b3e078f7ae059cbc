"""Chroma behind one small interface: embedded (PersistentClient) or a server (HttpClient)."""
from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from rag.errors import IndexMismatchError, NewsragError, StoreError
from rag.filters import Filters
from rag.storage import read_only_folder, storage_error
from rag.types import Chunk

# Embedded Chroma locations where a write failed in this process (a full disk, say). Chroma
# keeps one client per location per process, and after such a failure its next call, a write or
# even a count, can hang for ever (seen with chromadb 1.5.9): refuse every call there until the
# process restarts. Other processes (a server reading the same index) are not affected.
_FAILED_WRITES: dict[str, str] = {}


class _Gate:
    """Many Chroma calls at once, or a reopening of the client alone."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._calls = 0
        self._reopening = False

    @contextmanager
    def call(self, alone: bool = False) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._reopening)
            if alone:
                self._reopening = True
                self._cond.wait_for(lambda: self._calls == 0)
            else:
                self._calls += 1
        try:
            yield
        finally:
            with self._cond:
                if alone:
                    self._reopening = False
                else:
                    self._calls -= 1
                self._cond.notify_all()


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    distance: float


def chroma_where(filters: Filters | None) -> dict | None:
    """The filters as a Chroma `where` on the chunk metadata (`chunk_metadata` in rag/index.py)."""
    if filters is None:
        return None
    clauses: list[dict] = []
    if len(filters.sources) == 1:
        clauses.append({"source": filters.sources[0]})
    elif filters.sources:
        clauses.append({"source": {"$in": list(filters.sources)}})
    if filters.since_day is not None:
        clauses.append({"published_day": {"$gte": filters.since_day}})
    if filters.until_day is not None:
        clauses.append({"published_day": {"$lte": filters.until_day}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


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
        read_only: bool = False,
    ):
        from chromadb.config import Settings as ChromaSettings  # imports chromadb itself

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        self.url, self.where = url, url or str(path)
        self.read_only = False
        self.snapshot: Path | None = None
        self._settings, self._gate = chroma_settings, _Gate()
        if not url and path is not None and (read_only or read_only_folder(path)):
            path = self._read_only_copy(path)
        with self._calling(f"open the collection {collection!r} in"):
            self.client = self._client(url, path, chroma_settings)
            self.collection = self.client.get_or_create_collection(
                name=collection,
                metadata={"embedder": embedder_name, "dimension": dimension, "hnsw:space": "cosine"},
                embedding_function=None,
            )
        self._check_embedder(collection, embedder_name, dimension)
        self.embedder_name = embedder_name
        self.dimension = dimension

    def _read_only_copy(self, path: Path) -> Path:
        """Chroma cannot open a folder it cannot write (read-only, or a full disk): serve a
        private copy of the vectors, in the temp folder."""
        if not path.is_dir():
            raise StoreError(f"There is no vector index at {path}, and none can be created "
                             "there: the folder cannot be written.")
        self.read_only = True
        try:
            self.snapshot = Path(tempfile.mkdtemp(prefix="newsrag-readonly-"))
            return Path(shutil.copytree(path, self.snapshot / "chroma"))
        except OSError as e:
            self.close()
            raise storage_error(f"Copying the vectors of {self.where} to the temp folder",
                                Path(tempfile.gettempdir()), e) from e

    @staticmethod
    def _client(url: str | None, path: Path | None, chroma_settings: Any) -> Any:
        """A client of the Chroma server at url, or of the embedded index in the folder path."""
        import chromadb

        if url:
            parts = urlsplit(url if "://" in url else f"http://{url}")
            return chromadb.HttpClient(
                host=parts.hostname or "127.0.0.1",
                port=parts.port or 8000,
                ssl=parts.scheme == "https",
                settings=chroma_settings,
            )
        assert path is not None
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)

    def reopen(self) -> None:
        """Open the embedded index afresh: a PersistentClient keeps the vector index (HNSW) it
        loaded, so the vectors another process wrote since are neither found nor readable
        ("Error finding id") until the client is opened again (docs/deployment.md). Waits for
        the calls in flight; a Chroma server needs none of this."""
        if self.url or self.read_only:
            return
        with self._calling("reopen", alone=True):
            self.client.close()  # the last client of a folder stops Chroma's cached system
            self.client = self._client(None, Path(self.where), self._settings)
            self.collection = self.client.get_collection(self.collection.name)

    def _check_embedder(self, collection: str, embedder_name: str, dimension: int) -> None:
        """IndexMismatchError unless the collection was built by this embedder."""
        meta = self.collection.metadata or {}
        if meta.get("embedder") != embedder_name or int(meta.get("dimension", -1)) != dimension:
            raise IndexMismatchError(
                f"The index {collection!r} was built with embedder {meta.get('embedder')!r} "
                f"({meta.get('dimension')} dims), but {embedder_name!r} ({dimension} dims) is "
                "configured. Use the same embedder, or another collection/data folder."
            )

    @contextmanager
    def _calling(self, action: str, writes: bool = False, alone: bool = False
                 ) -> Iterator[None]:
        """Chroma's many exception kinds become one StoreError that says what to do."""
        if writes and self.read_only:
            raise StoreError(f"Cannot {action} Chroma at {self.where}: the data folder is "
                             "read-only. Ingest into a writable data folder (the index in this "
                             "one can still be queried).")
        if self.where in _FAILED_WRITES:
            raise StoreError(f"Cannot {action} Chroma at {self.where}: an earlier write in this "
                             f"process failed ({_FAILED_WRITES[self.where]}), after which Chroma "
                             "can hang. Fix the cause, then restart: a new process (each "
                             "`newsrag ingest` is one) opens the index afresh.")
        try:
            with self._gate.call(alone):
                yield
        except NewsragError:
            raise
        except Exception as e:  # chromadb, httpx and OS errors alike
            what = f"{action[0].upper()}{action[1:]} Chroma at {self.where}"
            err = storage_error(what, Path(self.where), e)
            if writes and not self.url and not isinstance(e, (ValueError, TypeError)):
                _FAILED_WRITES[self.where] = str(e)[:200]  # not a mere bad argument
            text = str(e).lower()
            if "hnsw" in text and not writes and not self.url:
                err = StoreError(
                    f"{what} failed: {e}. This usually means another process wrote to this "
                    "embedded index while this one had it open: restart this process. To "
                    "ingest while serving, use a Chroma server (chroma_url; docs/reliability.md).")
            elif "connect" in text and self.url:
                err = StoreError(f"{what} failed: {e}. "
                                 "Is the Chroma server running (chroma run --path DIR)?")
            raise err from e

    def upsert(
        self, chunks: Sequence[Chunk], vectors: np.ndarray, metadatas: Sequence[dict[str, Any]]
    ) -> None:
        if not chunks:
            return
        step = 2000  # stay below Chroma's max batch size
        with self._calling("write vectors to", writes=True):
            for i in range(0, len(chunks), step):
                part = chunks[i : i + step]
                self.collection.upsert(
                    ids=[c.id for c in part],
                    embeddings=vectors[i : i + step],
                    documents=[c.text for c in part],
                    metadatas=list(metadatas[i : i + step]),
                )

    def delete_articles(self, article_ids: Sequence[str]) -> None:
        with self._calling("delete vectors from", writes=True):
            for i in range(0, len(article_ids), 200):
                part = list(article_ids[i : i + 200])
                where = {"article_id": part[0]} if len(part) == 1 else {
                    "article_id": {"$in": part}}
                self.collection.delete(where=where)

    def delete_ids(self, ids: Sequence[str]) -> None:
        with self._calling("delete vectors from", writes=True):
            for i in range(0, len(ids), 1000):
                self.collection.delete(ids=list(ids[i : i + 1000]))

    def query(self, vector: np.ndarray, n: int, filters: Filters | None = None) -> list[Hit]:
        """The n nearest chunks (passing `filters`), ids and distances only: Chroma reads each
        hit's metadata row, ~50 us a hit (docs/performance.md). An empty collection gives []."""
        with self._calling("query"):
            res = self.collection.query(
                query_embeddings=[vector], n_results=n, where=chroma_where(filters),
                include=["distances"])
        return [Hit(cid, float(d)) for cid, d in zip(res["ids"][0], res["distances"][0])]

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of these chunk ids (those that exist). An embedded client that
        does not hold a chunk another process wrote since it loaded is reopened, once."""
        try:
            return self._vectors(ids)
        except StoreError as e:
            if self.url or self.read_only or "error finding id" not in str(e).lower():
                raise
        self.reopen()
        return self._vectors(ids)

    def _vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        with self._calling("read vectors from"):
            for i in range(0, len(ids), 1000):
                got = self.collection.get(ids=list(ids[i : i + 1000]), include=["embeddings"])
                out.update((cid, np.asarray(v, dtype=np.float32))
                           for cid, v in zip(got["ids"], got["embeddings"]))
        return out

    def count(self) -> int:
        with self._calling("count the vectors in"):
            return self.collection.count()

    def all_ids(self, page: int = 5000) -> set[str]:
        """Every id, paged: a single get() over tens of thousands of ids fails in SQLite."""
        ids: set[str] = set()
        offset = 0
        with self._calling("read the ids in"):
            while True:
                got = self.collection.get(limit=page, offset=offset, include=[])
                ids.update(got["ids"])
                if len(got["ids"]) < page:
                    return ids
                offset += page

    def documents(self, page: int = 1000) -> dict[str, str]:
        """Every chunk's stored text, by id (the crash trials compare two builds with it)."""
        docs: dict[str, str] = {}
        offset = 0
        with self._calling("read the documents in"):
            while True:
                got = self.collection.get(include=["documents"], limit=page, offset=offset)
                docs.update(zip(got["ids"], got["documents"]))
                if len(got["ids"]) < page:
                    return docs
                offset += page

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None and not self.url and self.where not in _FAILED_WRITES:
            client.close()  # (after a failed write, Chroma can hang)  # the folder's last client: the next opening reads it afresh
        if self.snapshot is not None:
            shutil.rmtree(self.snapshot, ignore_errors=True)
            self.snapshot = None
