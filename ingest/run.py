"""The ingest run: incremental, idempotent and crash-safe, in batches sized for the embedder."""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ingest.chunk import Chunker, fit_chunks
from ingest.dedup import Signature, signature, signature_from_bytes
from ingest.loaders import iter_files, load_file
from rag.index import ArticleWrite, Index
from rag.types import Article, Chunk, Skip


@dataclass
class IngestReport:
    files: int = 0
    files_unchanged: int = 0
    # files that hold an article: read now, or unchanged since a run that found one. None of
    # them means nothing could be read (`newsrag ingest` exits 3)
    files_with_articles: int = 0
    seen: int = 0
    ingested: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: Counter = field(default_factory=Counter)  # exact / near
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    skips: list[Skip] = field(default_factory=list)
    removed: int = 0
    recovered: int = 0
    chunks: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    vectors_embedded: int = 0
    vectors_reused: int = 0  # found in the vector files (NEWSRAG_VECTOR_FILES, --vectors)

    def to_dict(self) -> dict[str, Any]:
        secs = max(self.seconds, 1e-9)
        return {
            "files": self.files,
            "files_unchanged": self.files_unchanged,
            "files_with_articles": self.files_with_articles,
            "seen": self.seen,
            "ingested": self.ingested,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "duplicates": dict(self.duplicates),
            "skipped": dict(self.skipped),
            "skips": [
                {"origin": s.origin, "reason": s.reason, "detail": s.detail} for s in self.skips
            ],
            "removed": self.removed,
            "recovered": self.recovered,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
            "vectors_embedded": self.vectors_embedded,
            "vectors_reused": self.vectors_reused,
            "articles_per_s": round((self.ingested + self.updated) / secs, 2),
            "chunks_per_s": round(self.chunks / secs, 2),
        }


@dataclass
class _Item:
    article: Article
    file: str | None
    replaces: bool
    sig: Signature
    chunks: list[Chunk] = field(default_factory=list)
    vectors: np.ndarray | None = None  # given (an import carries them), else embedded


class Ingestor:
    """Feeds articles through dedup, chunking and embedding into the index."""

    def __init__(self, index: Index, progress: Callable[[int, int], None] | None = None):
        self.index = index
        s = index.settings
        self.chunker = Chunker(s.chunk_tokens, s.chunk_overlap, s.encoding)
        self.threshold = s.near_dup_threshold
        self.progress = progress
        # long enough to sort texts by length for the encoder, short enough to stream
        self.flush_chunks = s.ingest_batch_chunks
        self.report = IngestReport()
        self.batch: list[_Item] = []
        self.batch_chunks = 0
        self.batch_hashes: dict[str, str] = {}
        self.batch_buckets: dict[tuple[int, int], list[_Item]] = {}
        self.files_done: list[tuple[str, int, int, list[str], list[dict]]] = []

    # --- one file ------------------------------------------------------------------------
    def add_file(self, path: Path) -> None:
        key = str(path.resolve())
        try:
            st = path.stat()
        except OSError as e:
            self._skip(Skip(key, "unreadable", str(e)))
            return
        self.report.files += 1
        if self.index.catalog.file_state(key) == (st.st_size, st.st_mtime_ns):
            self.report.files_unchanged += 1
            self.report.files_with_articles += bool(self.index.catalog.file_seen_ids(key))
            return
        catalog = self.index.catalog
        before = set(catalog.file_article_ids(key))
        seen_ids: list[str] = []
        skipped: list[dict] = []
        for item in load_file(path, max_bytes=self.index.settings.max_file_bytes):
            if isinstance(item, Skip):
                self._skip(item)
                skipped.append({"origin": item.origin, "reason": item.reason})
                continue
            self.report.seen += 1
            seen_ids.append(item.id)
            self.add_article(item, key)
        self.report.files_with_articles += bool(seen_ids)
        if not seen_ids and not skipped:  # a loader found nothing and said nothing: say why
            self._skip(Skip(str(path), "no article", "the file holds no records"))
            skipped.append({"origin": str(path), "reason": "no article"})
        vanished = sorted(before - set(seen_ids))
        if vanished:  # articles the file no longer holds
            self.flush()
            self.index.remove(vanished)
            self.report.removed += len(vanished)
        self.files_done.append((key, st.st_size, st.st_mtime_ns, seen_ids, skipped))
        if not self.batch:
            self._record_files()

    # --- one article ---------------------------------------------------------------------
    def add_article(self, art: Article, file: str | None, *, chunks: list[Chunk] | None = None,
                    sig: Signature | None = None, vectors: np.ndarray | None = None) -> None:
        """Dedup, chunk and batch one article. An import gives the chunks, the signature and
        the vectors it carries: then nothing is cut or embedded again."""
        catalog = self.index.catalog
        stored = catalog.article(art.id)
        if stored and stored.state == "done" and stored.content_hash == art.content_hash:
            self.report.unchanged += 1
            if stored.file != file:  # moved to another file: the old one must not remove it
                catalog.set_article_file(art.id, file)
            return
        if any(i.article.id == art.id for i in self.batch):
            self.report.duplicates["exact"] += 1
            return
        original = self.batch_hashes.get(art.content_hash) or catalog.id_with_hash(art.content_hash)
        if original and original != art.id:
            catalog.record_duplicate(art, original, "exact", 1.0, file)
            self.report.duplicates["exact"] += 1
            return
        sig = sig or signature(art.title + "\n" + art.text)
        near = self._near_duplicate(sig, exclude=art.id)
        if near:
            catalog.record_duplicate(art, near[0], "near", near[1], file)
            self.report.duplicates["near"] += 1
            return
        item = _Item(art, file, replaces=stored is not None, sig=sig, vectors=vectors)
        item.chunks = chunks if chunks is not None else fit_chunks(
            self.chunker, art, self.index.embedder.count_tokens, self.index.embedder.max_tokens
        )
        if not item.chunks:
            self._skip(Skip(art.origin, "no text", "the article has no sentences to index"))
            return
        self.batch.append(item)
        self.batch_chunks += len(item.chunks)
        self.batch_hashes[art.content_hash] = art.id
        for band in sig.bands():
            self.batch_buckets.setdefault(band, []).append(item)
        if self.batch_chunks >= self.flush_chunks:
            self.flush()

    def _near_duplicate(self, sig: Signature, exclude: str) -> tuple[str, float] | None:
        bands = sig.bands()
        best: tuple[str, float] | None = None
        for band in bands:
            for item in self.batch_buckets.get(band, ()):
                sim = sig.similarity(item.sig)
                if sim >= self.threshold and (best is None or sim > best[1]):
                    best = (item.article.id, sim)
        for cand in self.index.catalog.lsh_candidates(bands) - {exclude}:
            blob = self.index.catalog.signature(cand)
            if blob is None:
                continue
            sim = sig.similarity(signature_from_bytes(blob))
            if sim >= self.threshold and (best is None or sim > best[1]):
                best = (cand, sim)
        return best

    # --- a batch -------------------------------------------------------------------------
    def flush(self) -> None:
        if not self.batch:
            return
        items = self.batch
        stats = self.index.write_batch([
            ArticleWrite(i.article, i.file, i.chunks, i.replaces, i.sig.bands(),
                         i.sig.values.tobytes(), i.vectors) for i in items])
        self.report.embed_seconds += stats.embed_seconds
        self.report.vectors_embedded += stats.embedded
        self.report.vectors_reused += stats.reused
        chunks = sum(len(i.chunks) for i in items)
        self.report.ingested += sum(not i.replaces for i in items)
        self.report.updated += sum(i.replaces for i in items)
        self.report.chunks += chunks
        if self.progress:
            self.progress(len(items), chunks)
        self.batch, self.batch_chunks = [], 0
        self.batch_hashes.clear()
        self.batch_buckets.clear()
        self._record_files()

    def _record_files(self) -> None:
        for key, size, mtime, ids, skipped in self.files_done:
            self.index.catalog.record_file(key, size, mtime, ids, skipped)
        self.files_done.clear()

    def _skip(self, skip: Skip) -> None:
        self.report.skipped[skip.reason] += 1
        if len(self.report.skips) < 200:
            self.report.skips.append(skip)

    # --- pruning -------------------------------------------------------------------------
    def prune(self) -> None:
        """Remove the articles of source files that no longer exist."""
        catalog = self.index.catalog
        for path in catalog.files():
            if Path(path).exists():
                continue
            ids = catalog.file_article_ids(path)
            self.index.remove(ids)
            catalog.forget_file(path)
            self.report.removed += len(ids)


def ingest(
    index: Index,
    paths: Iterable[Path | str],
    *,
    prune: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Ingest files and folders into the index; safe to re-run and to interrupt."""
    t0 = time.perf_counter()
    index.vector_files  # noqa: B018 - a bad vector file is refused before anything is written
    with index.writing(f"ingest into {index.settings.data_dir}"):
        ing = Ingestor(index, progress)
        ing.report.recovered = len(index.recover())
        if prune:  # first: an article moved from a gone file into a new one is then re-added
            ing.prune()
        for path in iter_files([Path(p) for p in paths]):
            ing.add_file(path)
        ing.flush()
        ing._record_files()
    ing.report.seconds = time.perf_counter() - t0
    return ing.report

