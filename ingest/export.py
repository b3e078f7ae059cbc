"""`newsrag export PATH`: an index written to a dump (ingest/dump.py), streamed in batches."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ingest.dump import DumpError, DumpWriter
from rag.catalog import COPIED_TABLES
from rag.index import Index


@dataclass
class ExportReport:
    path: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    pending_left_out: int = 0  # articles a crashed ingest left half-written: not exported
    bytes: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "counts": self.counts, "pending_left_out": self.pending_left_out,
                "bytes": self.bytes, "seconds": round(self.seconds, 3)}


def export(index: Index, path: Path | str, *, batch_articles: int = 200,
           progress: Callable[[int, int], None] | None = None) -> ExportReport:
    """Write every finished article, its chunks and vectors, and the copied tables to a new dump
    at `path`. No ingest writes meanwhile (it would be refused: the export holds the ingest
    lock), so that the catalog and the vectors are read in step."""
    t0 = time.perf_counter()
    catalog = index.catalog
    source = {"catalog": index.settings.catalog_where,
              "store": index.settings.chroma_url or str(index.settings.chroma_path),
              "collection": index.settings.collection,
              "chunking": {"chunk_tokens": index.settings.chunk_tokens,
                           "chunk_overlap": index.settings.chunk_overlap,
                           "encoding": index.settings.encoding}}
    try:
        writer = DumpWriter(Path(path), index.embedder.name, index.embedder.dimension, source)
    except OSError as e:
        raise DumpError(f"Cannot write a dump at {path}: {e}. Choose a writable place.") from None
    report = ExportReport(path=str(path))
    try:
        with _no_writer(index):
            report.pending_left_out = catalog.state_counts()["pending"]
            for records, chunks, vectors in _article_batches(index, batch_articles):
                for rec in records:
                    own = chunks[rec["id"]]
                    writer.add_article(rec, own, np.stack([vectors[c.id] for c in own])
                                       if own else np.zeros((0, index.embedder.dimension)))
                if progress:
                    progress(len(records), sum(len(c) for c in chunks.values()))
            for table, (key, _) in COPIED_TABLES.items():
                after = ""  # keys are never empty
                while rows := catalog.rows_after(table, after, 1000):
                    writer.add_rows(table, rows)
                    after = rows[-1][key]
            manifest = writer.finish()
    except OSError as e:  # a full disk, say: nothing half-written is kept
        writer.abort()
        raise DumpError(f"Writing the dump {path} failed: {e}. Nothing of it was kept: free "
                        "some space or choose another place, then export again.") from None
    except BaseException:
        writer.abort()
        raise
    report.counts = manifest["counts"]
    report.bytes = sum(f["bytes"] for f in manifest["files"].values())
    report.seconds = time.perf_counter() - t0
    return report


def _article_batches(index: Index, size: int) -> Iterator[tuple[list[dict], dict, dict]]:
    """(article records, their chunks by article, the chunks' vectors by chunk id), a batch at
    a time, in stored order."""
    after = 0
    while batch := index.catalog.article_records(after, size):
        after = batch[-1][0]
        records = [r for _, r in batch]
        chunks = index.catalog.chunks_of([r["id"] for r in records])
        ids = [c.id for own in chunks.values() for c in own]
        vectors = index.store.vectors(ids)
        missing = [i for i in ids if i not in vectors]
        if missing:
            raise DumpError(
                f"{len(missing)} chunks of the catalog have no vector in the store (e.g. "
                f"{missing[0]}): the index is inconsistent. See `newsrag stats --check`; "
                "re-ingesting the sources repairs it. Nothing was exported.")
        short = [r for r in records if len(chunks[r["id"]]) != r["n_chunks"]]
        if short:
            raise DumpError(f"Article {short[0]['id']} has {len(chunks[short[0]['id']])} chunks, "
                            f"the catalog says {short[0]['n_chunks']}: see `newsrag stats "
                            "--check`. Nothing was exported.")
        yield records, chunks, vectors


@contextmanager
def _no_writer(index: Index) -> Iterator[None]:
    """The ingest lock, held for the export: an ingest started meanwhile is refused."""
    lock = nullcontext() if index.readonly else index.catalog.exclusive_writer()
    with lock:
        yield
