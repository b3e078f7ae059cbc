"""Filters shared by both searches, and BM25 through SQLite FTS5 in the catalog.

FTS5 is incremental, persisted and transactional with the catalog, so it is always in step
with what ingest committed: `newsrag stats --check` verifies it and the crash trials compare
it. Questions are answered from BM25 held in memory (rag/bm25.py), 18x faster at 100k chunks;
`search` here is the SQL path, kept as that check and as the benchmark's baseline.
"""
from __future__ import annotations

from dataclasses import dataclass

from rag.catalog import Catalog
from rag.text import content_words


@dataclass(frozen=True)
class Filters:
    sources: tuple[str, ...] = ()
    since_day: int | None = None  # YYYYMMDD, inclusive
    until_day: int | None = None

    def is_empty(self) -> bool:
        return not self.sources and self.since_day is None and self.until_day is None

    def chroma_where(self) -> dict | None:
        clauses: list[dict] = []
        if len(self.sources) == 1:
            clauses.append({"source": self.sources[0]})
        elif self.sources:
            clauses.append({"source": {"$in": list(self.sources)}})
        if self.since_day is not None:
            clauses.append({"published_day": {"$gte": self.since_day}})
        if self.until_day is not None:
            clauses.append({"published_day": {"$lte": self.until_day}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def sql(self) -> tuple[str, list]:
        parts, args = [], []
        if self.sources:
            parts.append(f"a.source IN ({','.join('?' * len(self.sources))})")
            args.extend(self.sources)
        if self.since_day is not None:
            parts.append("a.published_day >= ?")
            args.append(self.since_day)
        if self.until_day is not None:
            parts.append("a.published_day <= ?")
            args.append(self.until_day)
        return " AND ".join(parts), args


def fts_query(text: str, max_terms: int = 32) -> str:
    """An OR query of the question's content words, each quoted (FTS syntax is not ours)."""
    seen: list[str] = []
    for w in content_words(text):
        w = w.replace('"', "")
        if w and w not in seen:
            seen.append(w)
    return " OR ".join(f'"{w}"' for w in seen[:max_terms])


def search(
    catalog: Catalog, text: str, n: int, filters: Filters | None = None
) -> list[tuple[str, float]]:
    """(chunk id, BM25 score, higher is better) for the n best chunks."""
    query = fts_query(text)
    if not query:
        return []
    where, args = (filters or Filters()).sql()
    join = "JOIN articles a ON a.id = c.article_id" if where else ""
    sql = (
        "SELECT c.id, bm25(chunks_fts, 1.0, 0.5) AS s FROM chunks_fts "
        f"JOIN chunks c ON c.rowid = chunks_fts.rowid {join} "
        f"WHERE chunks_fts MATCH ? {'AND ' + where if where else ''} ORDER BY s LIMIT ?"
    )
    with catalog.lock:
        rows = catalog.db.execute(sql, [query, *args, n]).fetchall()
    return [(cid, -score) for cid, score in rows]
