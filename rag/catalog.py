"""The SQLite catalog beside the vectors: articles, chunks, source files, dedup signatures.

It is the source of truth for what is indexed. An article is written in two steps: marked
'pending' before its vectors go to Chroma, and 'done' (with its chunks and lexical rows) after,
so that a crash in between is found and rolled back by `pending_articles` on the next run.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from rag.errors import StoreError
from rag.types import Article, Chunk

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
  path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, article_ids TEXT, skipped TEXT,
  ingested_at REAL
);
CREATE TABLE IF NOT EXISTS articles (
  id TEXT PRIMARY KEY, state TEXT NOT NULL, title TEXT, url TEXT, source TEXT, authors TEXT,
  published TEXT, published_day INTEGER, content_hash TEXT, origin TEXT, file TEXT,
  external_id TEXT, text TEXT, n_chunks INTEGER, ingested_at REAL
);
CREATE INDEX IF NOT EXISTS articles_hash ON articles(content_hash);
CREATE INDEX IF NOT EXISTS articles_file ON articles(file);
CREATE INDEX IF NOT EXISTS articles_state ON articles(state);
CREATE INDEX IF NOT EXISTS articles_day ON articles(published_day);
CREATE TABLE IF NOT EXISTS chunks (
  rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, article_id TEXT NOT NULL,
  position INTEGER, start INTEGER, "end" INTEGER, text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
  text, title, content='', tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS lsh (band INTEGER, bucket INTEGER, article_id TEXT);
CREATE TABLE IF NOT EXISTS signatures (article_id TEXT PRIMARY KEY, sig BLOB);
CREATE INDEX IF NOT EXISTS lsh_bucket ON lsh(band, bucket);
CREATE INDEX IF NOT EXISTS lsh_article ON lsh(article_id);
CREATE TABLE IF NOT EXISTS duplicates (
  id TEXT PRIMARY KEY, duplicate_of TEXT NOT NULL, kind TEXT, similarity REAL,
  title TEXT, origin TEXT, file TEXT, external_id TEXT
);
CREATE INDEX IF NOT EXISTS duplicates_file ON duplicates(file);
"""


@dataclass(frozen=True)
class StoredArticle:
    id: str
    state: str
    title: str
    url: str | None
    source: str | None
    published: str | None
    content_hash: str
    file: str | None
    external_id: str | None
    n_chunks: int


def published_day(published: str | None) -> int | None:
    """'2026-10-05T09:30:00Z' -> 20261005, the integer the date filters compare."""
    if not published or len(published) < 10 or not published[:4].isdigit():
        return None
    try:
        return int(published[:10].replace("-", ""))
    except ValueError:
        return None


class Catalog:
    def __init__(self, path: Path, *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        try:
            if not readonly:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            uri = f"file:{self.path}?mode=ro" if readonly else f"file:{self.path}"
            self.db = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)
            self.db.execute("PRAGMA busy_timeout=30000")
            if not readonly:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(SCHEMA)
        except sqlite3.Error as e:
            raise StoreError(f"Cannot open the catalog {self.path}: {e}") from None
        self.lock = threading.RLock()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            try:
                self.db.execute("BEGIN IMMEDIATE")
                yield self.db
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    # --- meta -----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # --- files ----------------------------------------------------------------------------
    def file_state(self, path: str) -> tuple[int, int] | None:
        row = self.db.execute("SELECT size, mtime_ns FROM files WHERE path=?", (path,)).fetchone()
        return (row[0], row[1]) if row else None

    def record_file(
        self, path: str, size: int, mtime_ns: int, article_ids: Sequence[str], skipped: Sequence
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)",
                (path, size, mtime_ns, json.dumps(list(article_ids)), json.dumps(list(skipped)),
                 time.time()),
            )

    def file_article_ids(self, path: str) -> list[str]:
        rows = self.db.execute("SELECT id FROM articles WHERE file=?", (path,)).fetchall()
        return [r[0] for r in rows]

    def file_duplicate_ids(self, path: str) -> list[str]:
        rows = self.db.execute("SELECT id FROM duplicates WHERE file=?", (path,)).fetchall()
        return [r[0] for r in rows]

    def files(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT path FROM files")]

    def forget_file(self, path: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM files WHERE path=?", (path,))
            db.execute("DELETE FROM duplicates WHERE file=?", (path,))

    # --- articles -------------------------------------------------------------------------
    def article(self, article_id: str) -> StoredArticle | None:
        row = self.db.execute(
            "SELECT id, state, title, url, source, published, content_hash, file, external_id, "
            "n_chunks FROM articles WHERE id=?",
            (article_id,),
        ).fetchone()
        return StoredArticle(*row) if row else None

    def article_text(self, article_id: str) -> str | None:
        row = self.db.execute("SELECT text FROM articles WHERE id=?", (article_id,)).fetchone()
        return row[0] if row else None

    def id_with_hash(self, content_hash: str) -> str | None:
        row = self.db.execute(
            "SELECT id FROM articles WHERE content_hash=? AND state='done' LIMIT 1", (content_hash,)
        ).fetchone()
        return row[0] if row else None

    def duplicate_of(self, article_id: str) -> str | None:
        row = self.db.execute(
            "SELECT duplicate_of FROM duplicates WHERE id=?", (article_id,)
        ).fetchone()
        return row[0] if row else None

    def mark_pending(self, articles: Iterable[tuple[Article, str | None]]) -> None:
        """Step 1: the articles about to be (re)written; their old chunks count as doomed."""
        with self.transaction() as db:
            for art, file in articles:
                db.execute(
                    "INSERT OR REPLACE INTO articles VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, "
                    "?, ?, ?, 0, ?)",
                    (art.id, art.title, art.url, art.source, json.dumps(list(art.authors)),
                     art.published, published_day(art.published), art.content_hash, art.origin,
                     file, art.external_id, art.text, time.time()),
                )

    def commit_articles(
        self,
        chunks_by_article: dict[str, list[Chunk]],
        lsh_rows: Sequence[tuple[int, int, str]],
        signatures: dict[str, bytes],
    ) -> None:
        """Step 2: chunks and lexical rows written, articles 'done', all in one transaction."""
        with self.transaction() as db:
            for article_id, chunks in chunks_by_article.items():
                self._delete_chunks(db, article_id)
                for c in chunks:
                    cur = db.execute(
                        'INSERT INTO chunks (id, article_id, position, start, "end", text) '
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (c.id, c.article_id, c.position, c.start, c.end, c.text),
                    )
                    db.execute(
                        "INSERT INTO chunks_fts (rowid, text, title) VALUES (?, ?, ?)",
                        (cur.lastrowid, c.text, c.title),
                    )
                db.execute(
                    "UPDATE articles SET state='done', n_chunks=? WHERE id=?",
                    (len(chunks), article_id),
                )
                db.execute("DELETE FROM lsh WHERE article_id=?", (article_id,))
            db.executemany("INSERT INTO lsh VALUES (?, ?, ?)", lsh_rows)
            db.executemany("INSERT OR REPLACE INTO signatures VALUES (?, ?)", signatures.items())

    def record_duplicate(
        self, art: Article, duplicate_of: str, kind: str, similarity: float, file: str | None
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO duplicates VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (art.id, duplicate_of, kind, similarity, art.title, art.origin, file,
                 art.external_id),
            )

    def remove_articles(self, article_ids: Sequence[str]) -> None:
        with self.transaction() as db:
            for aid in article_ids:
                self._delete_chunks(db, aid)
                db.execute("DELETE FROM lsh WHERE article_id=?", (aid,))
                db.execute("DELETE FROM signatures WHERE article_id=?", (aid,))
                db.execute("DELETE FROM articles WHERE id=?", (aid,))

    def remove_duplicates(self, ids: Sequence[str]) -> None:
        with self.transaction() as db:
            db.executemany("DELETE FROM duplicates WHERE id=?", [(i,) for i in ids])

    @staticmethod
    def _delete_chunks(db: sqlite3.Connection, article_id: str) -> None:
        rows = db.execute(
            "SELECT rowid, text, (SELECT title FROM articles WHERE id=?) FROM chunks "
            "WHERE article_id=?",
            (article_id, article_id),
        ).fetchall()
        # contentless FTS5 tables delete with the original values
        for rowid, text, title in rows:
            db.execute(
                "INSERT INTO chunks_fts (chunks_fts, rowid, text, title) VALUES ('delete', ?, ?, ?)",
                (rowid, text, title or ""),
            )
        db.execute("DELETE FROM chunks WHERE article_id=?", (article_id,))

    def mark_removing(self, article_ids: Sequence[str]) -> None:
        """Before vectors are deleted: a crash then leaves them 'pending', rolled back later."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE articles SET state='pending' WHERE id=?", [(a,) for a in article_ids]
            )

    def pending_articles(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM articles WHERE state='pending'")]

    # --- dedup ----------------------------------------------------------------------------
    def lsh_candidates(self, bands: Sequence[tuple[int, int]]) -> set[str]:
        found: set[str] = set()
        for band, bucket in bands:
            rows = self.db.execute(
                "SELECT article_id FROM lsh WHERE band=? AND bucket=?", (band, bucket)
            ).fetchall()
            found.update(r[0] for r in rows)
        return found

    def signature(self, article_id: str) -> bytes | None:
        row = self.db.execute(
            "SELECT sig FROM signatures WHERE article_id=?", (article_id,)
        ).fetchone()
        return row[0] if row else None

    def files_of_duplicates_of(self, article_ids: Sequence[str]) -> list[str]:
        """Files holding copies that were skipped as duplicates of these articles."""
        out: set[str] = set()
        for aid in article_ids:
            rows = self.db.execute(
                "SELECT file FROM duplicates WHERE duplicate_of=? AND file IS NOT NULL", (aid,)
            )
            out.update(r[0] for r in rows)
        return sorted(out)

    # --- reading --------------------------------------------------------------------------
    def chunks_by_ids(self, chunk_ids: Sequence[str]) -> dict[str, Chunk]:
        out: dict[str, Chunk] = {}
        for i in range(0, len(chunk_ids), 500):
            part = list(chunk_ids[i : i + 500])
            marks = ",".join("?" * len(part))
            rows = self.db.execute(
                'SELECT c.id, c.article_id, c.position, c.text, c.start, c."end", a.title, '
                f"a.source, a.published, a.url FROM chunks c JOIN articles a ON a.id=c.article_id "
                f"WHERE c.id IN ({marks})",
                part,
            ).fetchall()
            for r in rows:
                out[r[0]] = Chunk(*r)
        return out

    def counts(self) -> dict[str, int]:
        q = self.db.execute
        return {
            "articles": q("SELECT COUNT(*) FROM articles WHERE state='done'").fetchone()[0],
            "chunks": q("SELECT COUNT(*) FROM chunks").fetchone()[0],
            "duplicates": q("SELECT COUNT(*) FROM duplicates").fetchone()[0],
            "files": q("SELECT COUNT(*) FROM files").fetchone()[0],
            "pending": q("SELECT COUNT(*) FROM articles WHERE state='pending'").fetchone()[0],
        }

    def sources(self) -> list[tuple[str, int]]:
        rows = self.db.execute(
            "SELECT source, COUNT(*) FROM articles WHERE state='done' AND source IS NOT NULL "
            "GROUP BY source ORDER BY COUNT(*) DESC, source"
        ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def date_range(self) -> tuple[str | None, str | None]:
        row = self.db.execute(
            "SELECT MIN(published), MAX(published) FROM articles WHERE state='done' "
            "AND published IS NOT NULL"
        ).fetchone()
        return row[0], row[1]

    def all_chunk_ids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT id FROM chunks")}

    def chunk_count_by_article(self) -> dict[str, int]:
        rows = self.db.execute("SELECT article_id, COUNT(*) FROM chunks GROUP BY article_id")
        return dict(rows.fetchall())
