"""`newsrag import PATH`: a dump (ingest/dump.py) loaded into any index, embedding nothing.

The articles go through the ingest's own path (`Ingestor.add_article`, then
`Index.write_batch`), with the chunks, MinHash signatures and vectors the dump carries: an
article stored already with the same content is left alone, one with other content is
replaced, a copy of a stored one is recorded as its duplicate, as an ingest would. Batches are
written crash-safe as an ingest's are, and every step is idempotent, so an import killed at
any point and run again ends as a clean import.
"""
from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ingest.dedup import Signature, signature_from_bytes
from ingest.dump import ARTICLES, Dump, DumpError
from ingest.run import Ingestor, IngestReport
from rag.catalog import COPIED_TABLES
from rag.index import Index, embedding_text
from rag.types import Article, Chunk
from rag.vector_files import VectorLibrary

ROWS_PER_WRITE = 500


@dataclass
class ImportReport:
    articles: int = 0  # read from the dump
    ingest: IngestReport = field(default_factory=IngestReport)  # what became of them
    rows_added: dict[str, int] = field(default_factory=dict)  # per copied table
    duplicates_left_out: int = 0  # copies of an article that is not here
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        r = self.ingest
        return {"articles": self.articles, "ingested": r.ingested, "updated": r.updated,
                "unchanged": r.unchanged, "duplicates": dict(r.duplicates),
                "skipped": dict(r.skipped), "chunks": r.chunks, "recovered": r.recovered,
                "vectors_from_dump": r.vectors_reused, "vectors_embedded": r.vectors_embedded,
                "rows_added": self.rows_added, "duplicates_left_out": self.duplicates_left_out,
                "seconds": round(self.seconds, 3)}


def import_dump(index: Index, dump: Dump | Path | str,
                progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Load the dump into the index. Everything is checked (versions, embedder, sizes,
    checksums, counts) before anything is written."""
    t0 = time.perf_counter()
    dump = dump if isinstance(dump, Dump) else Dump(Path(dump))
    dump.check_embedder(index.embedder.name, index.embedder.dimension)
    dump.verify()
    library = VectorLibrary([dump.vectors_path], index.embedder.name, index.embedder.dimension)
    report = ImportReport()
    told = [0]

    def batch_written(_articles: int, chunks: int) -> None:
        if progress:
            progress(report.articles - told[0], chunks)
            told[0] = report.articles

    with index.writing(f"import into {index.settings.catalog_where}"):
        ing = Ingestor(index, batch_written)
        report.ingest = ing.report
        ing.report.recovered = len(index.recover())
        for rec in dump.records(ARTICLES):
            report.articles += 1
            art, file, chunks, sig = _parts(rec)
            stored = index.catalog.article(art.id)
            if stored and stored.state == "done" and stored.content_hash == art.content_hash:
                ing.report.unchanged += 1  # its file stays the one this index knows
                if report.articles - told[0] >= 200:  # a re-run passes these: say so
                    batch_written(0, 0)
                continue
            ing.add_article(art, file, chunks=chunks, sig=sig,
                            vectors=_vectors(library, chunks, dump))
        ing.flush()
        batch_written(0, 0)
        report.duplicates_left_out = _copy_tables(index, dump, report.rows_added)
    report.seconds = time.perf_counter() - t0
    ing.report.seconds = report.seconds
    return report


def _parts(rec: dict[str, Any]) -> tuple[Article, str | None, list[Chunk], Signature | None]:
    """An article record of the dump as the ingest's pieces."""
    try:
        art = Article(id=rec["id"], title=rec["title"] or "", text=rec["text"] or "",
                      url=rec["url"], source=rec["source"], authors=tuple(rec["authors"] or ()),
                      published=rec["published"], content_hash=rec["content_hash"] or "",
                      origin=rec["origin"] or "", external_id=rec["external_id"])
        chunks = [Chunk(id=c["id"], article_id=art.id, position=c["position"], text=c["text"],
                        start=c["start"], end=c["end"], title=art.title, source=art.source,
                        published=art.published, url=art.url) for c in rec["chunks"]]
        sig = (signature_from_bytes(base64.b64decode(rec["signature"]))
               if rec["signature"] else None)
        return art, rec["file"], chunks, sig
    except (KeyError, TypeError, ValueError) as e:
        raise DumpError(f"An article record of the dump is malformed ({type(e).__name__}: {e}, "
                        f"article {rec.get('id') if isinstance(rec, dict) else '?'}): export "
                        "again.") from None


def _vectors(library: VectorLibrary, chunks: list[Chunk], dump: Dump) -> np.ndarray:
    """The chunks' vectors from the dump's vector file: all of them, or a DumpError (an import
    never embeds)."""
    vectors, found = library.find([embedding_text(c) for c in chunks])
    if not found.all():
        missing = chunks[int(np.flatnonzero(~found)[0])].id
        raise DumpError(f"The dump's vectors lack chunk {missing} (the dump at {dump.path} was "
                        "not written whole by `newsrag export`): export again.")
    return vectors


def _copy_tables(index: Index, dump: Dump, added: dict[str, int]) -> int:
    """The duplicates, source files and feed state the index does not hold yet. Returns the
    duplicates left out: copies of an article neither stored here nor recorded as a copy."""
    left_out = [0]
    for table in COPIED_TABLES:
        rows: Iterable[dict[str, Any]] = dump.records(table)
        if table == "duplicates":
            rows = _resolved_duplicates(index, rows, left_out)
        added[table] = 0
        try:
            for part in _batches(rows, ROWS_PER_WRITE):
                added[table] += index.catalog.insert_missing(table, part)
        except (ValueError, KeyError, TypeError, AttributeError) as e:  # not rows of the table
            raise DumpError(f"The dump's {table} rows do not fit this index ({type(e).__name__}: "
                            f"{e}): export again.") from None
    return left_out[0]


def _resolved_duplicates(index: Index, rows: Iterable[dict[str, Any]], left_out: list[int]
                         ) -> Iterator[dict[str, Any]]:
    """The copies whose original is here: pointed at it, or at the article this index kept
    when the import found the original a copy of one of its own. A copy stored here as an
    article stays one."""
    catalog = index.catalog
    for row in rows:
        original = catalog.article(row["duplicate_of"])
        target = row["duplicate_of"] if original and original.state == "done" else \
            catalog.duplicate_of(row["duplicate_of"])
        if target is None:
            left_out[0] += 1
        elif catalog.article(row["id"]) is None:
            yield {**row, "duplicate_of": target}


def _batches(rows: Iterable[dict[str, Any]], n: int) -> Iterator[list[dict[str, Any]]]:
    part: list[dict[str, Any]] = []
    for row in rows:
        part.append(row)
        if len(part) == n:
            yield part
            part = []
    if part:
        yield part
