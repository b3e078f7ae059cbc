"""The SQLite catalog beside the vectors: articles, chunks, source files, dedup signatures.

It is the source of truth for what is indexed. An article is written in two steps: marked
'pending' before its vectors go to Chroma, and 'done' (with its chunks and lexical rows) after,
so that a crash in between is found and rolled back by `pending_articles` on the next run.
"""
from __future__ import annotations

import fcntl
import json
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.dates import published_day
from rag.errors import StoreError
from rag.filters import Filters
from rag.storage import free_bytes, read_only_folder, storage_error
from rag.text import content_words
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
""" + """
CREATE TABLE IF NOT EXISTS feed_sources (
  url TEXT PRIMARY KEY, parent TEXT, kind TEXT, title TEXT, etag TEXT, last_modified TEXT,
  last_poll REAL, last_status INTEGER, last_error TEXT, next_poll REAL,
  polls INTEGER NOT NULL DEFAULT 0, added_at REAL
);
CREATE TABLE IF NOT EXISTS feed_items (
  url TEXT PRIMARY KEY, link TEXT, source_url TEXT, guid TEXT, title TEXT, published TEXT,
  version TEXT, fallback TEXT, state TEXT NOT NULL, tries INTEGER NOT NULL DEFAULT 0,
  next_try REAL, http_status INTEGER, error TEXT, article_id TEXT, canonical TEXT,
  etag TEXT, last_modified TEXT, first_seen REAL, updated_at REAL
);
CREATE INDEX IF NOT EXISTS feed_items_source ON feed_items(source_url, state);
CREATE INDEX IF NOT EXISTS feed_items_guid ON feed_items(guid);
CREATE INDEX IF NOT EXISTS feed_items_canonical ON feed_items(canonical);
CREATE INDEX IF NOT EXISTS feed_items_due ON feed_items(state, next_try);
"""
# The feed tables (issue 14) are created by the same CREATE ... IF NOT EXISTS script when an
# older catalog is opened for writing: that is its migration. Read-only older catalogs lack them
# and report no feeds (`feed_report`).
FEED_SOURCE_FIELDS = ("url", "parent", "kind", "title", "etag", "last_modified", "last_poll",
                      "last_status", "last_error", "next_poll", "polls", "added_at")
FEED_ITEM_FIELDS = ("url", "link", "source_url", "guid", "title", "published", "version",
                    "fallback", "state", "tries", "next_try", "http_status", "error", "article_id",
                    "canonical", "etag", "last_modified", "first_seen", "updated_at")
ARTICLE_FIELDS = ("id", "state", "title", "url", "source", "authors", "published", "published_day",
                  "content_hash", "origin", "file", "external_id", "text", "n_chunks",
                  "ingested_at")
FILE_FIELDS = ("path", "size", "mtime_ns", "article_ids", "skipped", "ingested_at")
DUPLICATE_FIELDS = ("id", "duplicate_of", "kind", "similarity", "title", "origin", "file",
                    "external_id")
# the tables an export copies row by row (ingest/export.py): each one's key and fields
COPIED_TABLES = {"duplicates": ("id", DUPLICATE_FIELDS), "files": ("path", FILE_FIELDS),
                 "feed_sources": ("url", FEED_SOURCE_FIELDS),
                 "feed_items": ("url", FEED_ITEM_FIELDS)}
# an article record of an export: every stored field but the state, which is 'done'
RECORD_FIELDS = tuple(f for f in ARTICLE_FIELDS if f != "state")
# item states counted per source; "new" and "retry" are still to be fetched
FEED_ITEM_STATES = ("new", "retry", "stored", "duplicate", "failed", "dead", "refused")


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


class SQLiteCatalog:
    """The catalog in one SQLite file (WAL), with its FTS5 lexical rows: the `Catalog` protocol
    (rag/protocols.py) for one host."""

    def __init__(self, path: Path, *, readonly: bool = False):
        self.path = Path(path)
        # an index on a read-only mount, or on a full disk, is opened for reading: it can still
        # answer questions
        self.readonly = readonly or read_only_folder(self.path.parent)
        self.why_readonly = "is read-only" if self.readonly else ""
        self.snapshot: Path | None = None  # a private copy, when the folder cannot be read
        try:
            if not self.readonly:
                try:
                    self.db = self._connect_readwrite()
                except (sqlite3.Error, OSError):
                    free = free_bytes(self.path.parent)
                    if not self.path.is_file() or free is None or free >= 8 << 20:
                        raise
                    self.readonly = True
                    self.why_readonly = f"is on a full disk ({free // 1024} KiB free)"
            if self.readonly:
                self.db = self._connect_readonly()
        except (sqlite3.Error, OSError) as e:
            raise storage_error(f"Opening the catalog {self.path}", self.path.parent, e) from None
        self.lock = threading.RLock()
        self.writes = 0  # commits through this connection (PRAGMA data_version counts others')

    def _connect_readwrite(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(f"file:{self.path}", uri=True, check_same_thread=False, timeout=30)
        try:
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _connect_readonly(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise StoreError(f"There is no index at {self.path.parent}, and none can be created "
                             f"there: the folder {self.why_readonly}.")
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False,
                             timeout=30)
        try:
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError:
            db.close()
        # A WAL database needs its -shm file, which a read-only or full folder cannot hold.
        # With no -wal file everything is in the main file: read it as immutable; else read a
        # private copy of both, in the temp folder (opening it replays the committed WAL).
        if not Path(f"{self.path}-wal").exists():
            return sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True,
                                   check_same_thread=False)
        self.snapshot = Path(tempfile.mkdtemp(prefix="newsrag-catalog-"))
        copy = self.snapshot / self.path.name
        shutil.copyfile(self.path, copy)
        shutil.copyfile(f"{self.path}-wal", f"{copy}-wal")
        return sqlite3.connect(f"file:{copy}", uri=True, check_same_thread=False, timeout=30)

    def cannot_write(self, action: str) -> StoreError:
        """The error for a write to a catalog opened read-only: why, and what to do."""
        if self.why_readonly.startswith("is read-only"):
            todo = "Ingest into a writable data folder"
        else:
            todo = "Free some space, then run the ingest again"
        return StoreError(f"Cannot {action}: {self.path.parent} {self.why_readonly}. {todo} "
                          "(the index in it can still be queried).")

    @contextmanager
    def exclusive_writer(self) -> Iterator[None]:
        """One ingest or watcher at a time on this catalog: a lock file beside it, which goes
        with the process, killed or not."""
        path = self.path.parent / "ingest.lock"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            f = path.open("a")
        except OSError as e:
            raise storage_error(f"Creating the lock file {path}", path.parent, e) from e
        with f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError(
                    f"Another ingest is writing to {self.path.parent}: wait for it to "
                    "finish (two at once would undo each other's work).") from None
            yield

    def close(self) -> None:
        self.db.close()
        if self.snapshot is not None:
            shutil.rmtree(self.snapshot, ignore_errors=True)
            self.snapshot = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        if self.readonly:
            raise self.cannot_write(f"write to the catalog {self.path}")
        with self.lock:
            try:
                self.db.execute("BEGIN IMMEDIATE")
                yield self.db
                self.db.execute("COMMIT")
                self.writes += 1
            except BaseException as e:
                if self.db.in_transaction:  # SQLite may have rolled back itself (disk full)
                    try:
                        self.db.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                if isinstance(e, sqlite3.Error):
                    raise storage_error(
                        f"Writing the catalog {self.path}", self.path.parent, e) from e
                raise

    # --- meta -----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def uid(self) -> str:
        """This catalog's identity, made on first use: caches built from it record it."""
        uid = self.get_meta("uid")
        if uid is None:
            if self.readonly:
                return f"readonly:{self.path.resolve()}"
            uid = uuid.uuid4().hex
            with self.transaction() as db:
                db.execute("INSERT OR IGNORE INTO meta VALUES ('uid', ?)", (uid,))
            uid = self.get_meta("uid") or uid
        return uid

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

    def file_seen_ids(self, path: str) -> list[str]:
        """The ids of the articles the file held when it was last read (duplicates included)."""
        row = self.db.execute("SELECT article_ids FROM files WHERE path=?", (path,)).fetchone()
        return json.loads(row[0] or "[]") if row else []

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
                self._retitle(db, art.id, art.title)
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
            # rowids are never reused (a rewritten chunk gets a new one), so that readers
            # following the catalog by rowid (rag.bm25) see every change
            row = db.execute("SELECT MAX(rowid) FROM chunks").fetchone()[0] or 0
            rowid = max(row, int(self.get_meta("chunk_rowid_hwm") or 0))
            for article_id, chunks in chunks_by_article.items():
                self._delete_chunks(db, article_id)
                for c in chunks:
                    rowid += 1
                    db.execute(
                        'INSERT INTO chunks (rowid, id, article_id, position, start, "end", '
                        "text) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (rowid, c.id, c.article_id, c.position, c.start, c.end, c.text),
                    )
                    db.execute(
                        "INSERT INTO chunks_fts (rowid, text, title) VALUES (?, ?, ?)",
                        (rowid, c.text, c.title),
                    )
                db.execute(
                    "UPDATE articles SET state='done', n_chunks=? WHERE id=?",
                    (len(chunks), article_id),
                )
                db.execute("DELETE FROM lsh WHERE article_id=?", (article_id,))
            db.executemany("INSERT INTO lsh VALUES (?, ?, ?)", lsh_rows)
            db.executemany("INSERT OR REPLACE INTO signatures VALUES (?, ?)", signatures.items())
            db.execute("INSERT OR REPLACE INTO meta VALUES ('chunk_rowid_hwm', ?)", (str(rowid),))

    def set_article_file(self, article_id: str, file: str | None) -> None:
        with self.transaction() as db:
            db.execute("UPDATE articles SET file=? WHERE id=?", (file, article_id))

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

    @staticmethod
    def _retitle(db: sqlite3.Connection, article_id: str, title: str) -> None:
        """Keep the lexical rows of an article's chunks in step with its new title.

        Contentless FTS5 rows are deleted with their original values: were the title replaced
        first, the old title's words would stay in the index for ever.
        """
        row = db.execute("SELECT title FROM articles WHERE id=?", (article_id,)).fetchone()
        if row is None or (row[0] or "") == (title or ""):
            return
        for rowid, text in db.execute(
                "SELECT rowid, text FROM chunks WHERE article_id=?", (article_id,)).fetchall():
            db.execute("INSERT INTO chunks_fts (chunks_fts, rowid, text, title) "
                       "VALUES ('delete', ?, ?, ?)", (rowid, text, row[0] or ""))
            db.execute("INSERT INTO chunks_fts (rowid, text, title) VALUES (?, ?, ?)",
                       (rowid, text, title))

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

    def chunk_ids_by_rowid(self, rowids: Sequence[int]) -> dict[int, str]:
        return self._chunk_pairs("rowid", "id", rowids)

    def rowids_by_chunk_id(self, chunk_ids: Sequence[str]) -> dict[str, int]:
        return self._chunk_pairs("id", "rowid", chunk_ids)

    def _chunk_pairs(self, key: str, value: str, keys: Sequence) -> dict:
        out: dict = {}
        for i in range(0, len(keys), 500):
            part = list(keys[i : i + 500])
            marks = ",".join("?" * len(part))
            out.update(self.db.execute(
                f"SELECT {key}, {value} FROM chunks WHERE {key} IN ({marks})", part).fetchall())
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

    # --- following the catalog (rag.bm25) ------------------------------------------------------
    def version(self) -> tuple:
        """Changes whenever anything commits to the catalog, in this connection or another."""
        with self.lock:
            data_version = self.db.execute("PRAGMA data_version").fetchone()[0]
        return (data_version, self.writes)

    def chunk_rows_after(self, rowid: int, batch: int = 5000) -> Iterator[list[tuple]]:
        """Batches of (rowid, text, title, source, published_day) of the chunks written after
        `rowid`, in rowid order. Rowids are never reused, so a reader that remembers the
        highest it saw sees every later write."""
        cur = self.db.execute(
            "SELECT c.rowid, c.text, a.title, a.source, a.published_day FROM chunks c "
            "JOIN articles a ON a.id = c.article_id WHERE c.rowid > ? ORDER BY c.rowid", (rowid,))
        while True:
            rows = cur.fetchmany(batch)
            if not rows:
                return
            yield rows

    def chunk_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]

    def chunk_rowids(self) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT rowid FROM chunks")]

    def chunks_in_order(self, batch: int = 5000) -> Iterator[list[Chunk]]:
        """Every stored chunk with its article's fields, by article and position, in batches."""
        cur = self.db.execute(
            'SELECT c.id, c.article_id, c.position, c.text, c.start, c."end", a.title, a.source, '
            "a.published, a.url FROM chunks c JOIN articles a ON a.id = c.article_id "
            "ORDER BY c.article_id, c.position")
        while rows := cur.fetchmany(batch):
            yield [Chunk(*r) for r in rows]

    def article_ids_with_chunks(self) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT DISTINCT article_id FROM chunks ORDER BY article_id")]

    def chunk_texts(self, article_ids: Sequence[str]) -> list[str]:
        """The chunk texts of these articles, in chunk id order."""
        rows: list[tuple[str, str]] = []
        ids = sorted(article_ids)
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            rows += self.db.execute(
                f"SELECT id, text FROM chunks WHERE article_id IN ({','.join('?' * len(part))})",
                part).fetchall()
        return [text for _, text in sorted(rows)]

    def existing_chunk_ids(self, chunk_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(chunk_ids), 500):
            part = list(chunk_ids[i : i + 500])
            found.update(r[0] for r in self.db.execute(
                f"SELECT id FROM chunks WHERE id IN ({','.join('?' * len(part))})", part))
        return found

    # --- checks -------------------------------------------------------------------------------
    def consistency(self) -> dict[str, int]:
        """Chunks of no finished article, and finished articles whose chunk count is not what
        was written."""
        orphans, short = self.db.execute(
CONSISTENCY_SQL).fetchone()
        return {"orphan_chunks": orphans, "articles_with_wrong_chunk_count": short}

    def state_counts(self) -> dict[str, int]:
        """Articles by state: 'done' and 'pending' (a batch in flight, or one a crash left)."""
        done, pending = self.db.execute(
            "SELECT SUM(state='done'), SUM(state='pending') FROM articles").fetchone()
        return {"done": done or 0, "pending": pending or 0}

    def contents(self) -> dict[str, Any]:
        """What is stored, independent of file paths and timing: to compare two builds."""
        q = self.db.execute
        return {
            "articles": {r[0]: tuple(r[1:]) for r in q(
                "SELECT id, state, content_hash, title, n_chunks FROM articles")},
            "chunks": {r[0]: tuple(r[1:]) for r in q(
                'SELECT id, article_id, position, start, "end", text FROM chunks')},
            "duplicates": {r[0]: r[1] for r in q("SELECT id, duplicate_of FROM duplicates")},
            "same_hash_twice": q(
                "SELECT COUNT(*) FROM (SELECT content_hash FROM articles GROUP BY content_hash "
                "HAVING COUNT(*) > 1)").fetchone()[0],
        }

    def titles(self) -> list[str]:
        return [r[0] for r in self.article_rows("title")]

    def article_rows(self, *fields: str) -> list[tuple]:
        """These fields of every article, in the order they were first stored."""
        return self._rows("articles", ARTICLE_FIELDS, fields)

    def feed_item_rows(self, *fields: str) -> list[tuple]:
        """These fields of every feed item, in the order they were first seen."""
        return self._rows("feed_items", FEED_ITEM_FIELDS, fields)

    def _rows(self, table: str, valid: Sequence[str], fields: Sequence[str]) -> list[tuple]:
        check_fields(table, valid, fields, empty_ok=False)
        return self.db.execute(f"SELECT {', '.join(fields)} FROM {table} ORDER BY rowid"
                               ).fetchall()

    def files_of_articles(self) -> set[str]:
        """The source files of stored articles and of the copies skipped as duplicates."""
        return {r[0] for r in self.db.execute(
            "SELECT file FROM articles UNION SELECT file FROM duplicates") if r[0]}

    # --- eval: gold documents ------------------------------------------------------------------
    def articles_standing_for(self, keys: Sequence[str]) -> set[str]:
        """The finished articles whose id or external id is one of `keys`, and the originals
        of skipped copies whose id or external id is."""
        if not keys:
            return set()
        marks = ",".join("?" * len(keys))
        rows = self.db.execute(
            f"SELECT id FROM articles WHERE state='done' AND (external_id IN ({marks}) OR id IN "
            f"({marks})) UNION SELECT duplicate_of FROM duplicates WHERE external_id IN ({marks}) "
            f"OR id IN ({marks})", list(keys) * 4).fetchall()
        return {r[0] for r in rows}

    def titles_containing(self, fragment: str) -> list[tuple[str, str]]:
        """(article id, title) of finished articles, and (original id, copy's title) of
        skipped copies, whose title contains `fragment` (case-insensitively)."""
        like = "%" + fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return self.db.execute(
            "SELECT id, title FROM articles WHERE state='done' AND title LIKE ? ESCAPE '\\' "
            "UNION SELECT duplicate_of, title FROM duplicates WHERE title LIKE ? ESCAPE '\\'",
            (like,) * 2).fetchall()

    # --- lexical (FTS5) ---------------------------------------------------------------------
    def fts_search(self, text: str, n: int, filters: Filters | None = None
                   ) -> list[tuple[str, float]]:
        """(chunk id, BM25 score, higher is better) for the n best chunks, from FTS5."""
        query = fts_query(text)
        if not query:
            return []
        where, args = filter_sql(filters)
        join = "JOIN articles a ON a.id = c.article_id" if where else ""
        sql = (
            "SELECT c.id, bm25(chunks_fts, 1.0, 0.5) AS s FROM chunks_fts "
            f"JOIN chunks c ON c.rowid = chunks_fts.rowid {join} "
            f"WHERE chunks_fts MATCH ? {'AND ' + where if where else ''} ORDER BY s LIMIT ?"
        )
        with self.lock:
            rows = self.db.execute(sql, [query, *args, n]).fetchall()
        return [(cid, -score) for cid, score in rows]

    def lexical_check(self) -> dict[str, Any]:
        """Is the FTS index in step with the chunks: the same rows, and no stray words?

        Stray words (rows deleted with other values than they were written with) do not show
        as rows: they show as more indexed tokens than the per-column totals FTS5 keeps.
        """
        with self.lock:
            fts = {r[0] for r in self.db.execute("SELECT rowid FROM chunks_fts")}
            rows = {r[0] for r in self.db.execute("SELECT rowid FROM chunks")}
            self.db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_fts_terms "
                            "USING fts5vocab(main, chunks_fts, 'row')")
            indexed = self.db.execute("SELECT SUM(cnt) FROM temp.chunks_fts_terms").fetchone()[0]
            block = self.db.execute("SELECT block FROM chunks_fts_data WHERE id=1").fetchone()
        totals = _varints(block[0]) if block else [0]
        return {
            "fts_rows": len(fts),
            "fts_rows_match": fts == rows,
            "fts_tokens": indexed or 0,
            "fts_tokens_expected": sum(totals[1:]),
        }

    # --- feeds (ingest.watch) ----------------------------------------------------------------
    def feed_source(self, url: str) -> dict[str, Any] | None:
        row = self.db.execute(f"SELECT {', '.join(FEED_SOURCE_FIELDS)} FROM feed_sources "
                              "WHERE url=?", (url,)).fetchone()
        return dict(zip(FEED_SOURCE_FIELDS, row, strict=True)) if row else None

    def feed_item(self, url: str) -> dict[str, Any] | None:
        row = self.db.execute(f"SELECT {', '.join(FEED_ITEM_FIELDS)} FROM feed_items "
                              "WHERE url=?", (url,)).fetchone()
        return dict(zip(FEED_ITEM_FIELDS, row, strict=True)) if row else None

    def feed_item_known(self, guid: str | None, canonical: str | None) -> str | None:
        """The key of an item already seen with this guid or whose page had this canonical URL."""
        for column, value in (("guid", guid), ("canonical", canonical), ("url", canonical)):
            if value:
                row = self.db.execute(f"SELECT url FROM feed_items WHERE {column}=? LIMIT 1",
                                      (value,)).fetchone()
                if row:
                    return row[0]
        return None

    def feed_items_due(self, source_url: str, now: float) -> list[dict[str, Any]]:
        rows = self.db.execute(
            f"SELECT {', '.join(FEED_ITEM_FIELDS)} FROM feed_items WHERE source_url=? AND "
            "state IN ('new', 'retry') AND COALESCE(next_try, 0) <= ? ORDER BY first_seen, url",
            (source_url, now)).fetchall()
        return [dict(zip(FEED_ITEM_FIELDS, r, strict=True)) for r in rows]

    def write_feed_state(self, sources: Sequence[dict[str, Any]] = (),
                         items: Sequence[dict[str, Any]] = ()) -> None:
        """Upsert feed sources and items (each a dict with its key and the fields to set), in
        one transaction: a poll's validators are never saved without the items it found."""
        with self.transaction() as db:
            for table, key_fields, rows in (("feed_sources", FEED_SOURCE_FIELDS, sources),
                                            ("feed_items", FEED_ITEM_FIELDS, items)):
                for row in rows:
                    check_fields(table, key_fields, row)
                    cols = list(row)
                    sets = ", ".join(f"{c}=excluded.{c}" for c in cols if c != "url")
                    db.execute(
                        f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                        f"({', '.join('?' * len(cols))}) ON CONFLICT(url) DO "
                        + (f"UPDATE SET {sets}" if sets else "NOTHING"),
                        [row[c] for c in cols])

    def feed_report(self) -> list[dict[str, Any]]:
        """Each followed source: its last poll, HTTP status, items by state, next poll."""
        try:
            sources = self.db.execute(
                f"SELECT {', '.join(FEED_SOURCE_FIELDS)} FROM feed_sources "
                "ORDER BY parent IS NOT NULL, COALESCE(parent, url), url").fetchall()
            counts = self.db.execute(
                "SELECT source_url, state, COUNT(*) FROM feed_items GROUP BY source_url, state"
            ).fetchall()
        except sqlite3.OperationalError:  # an older catalog opened read-only: no feed tables
            return []
        return feed_report_from(sources, counts)

    def chunk_count_by_article(self) -> dict[str, int]:
        rows = self.db.execute("SELECT article_id, COUNT(*) FROM chunks GROUP BY article_id")
        return dict(rows.fetchall())

    # --- export and import (ingest/export.py, ingest/importer.py) ---------------------------
    def article_records(self, after: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """Up to `limit` finished articles stored after position `after` (0: from the first),
        in stored order: (position, its RECORD_FIELDS and its dedup `signature`)."""
        cols = ", ".join(f"a.{f}" for f in RECORD_FIELDS)
        rows = self.db.execute(
            f"SELECT a.rowid, {cols}, s.sig FROM articles a LEFT JOIN signatures s ON "
            "s.article_id = a.id WHERE a.state='done' AND a.rowid > ? ORDER BY a.rowid LIMIT ?",
            (after, limit)).fetchall()
        return [(r[0], {**dict(zip(RECORD_FIELDS, r[1:-1], strict=True)), "signature": r[-1]})
                for r in rows]

    def chunks_of(self, article_ids: Sequence[str]) -> dict[str, list[Chunk]]:
        """The chunks of these articles, each article's in position order."""
        out: dict[str, list[Chunk]] = {a: [] for a in article_ids}
        ids = list(article_ids)
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            rows = self.db.execute(
                'SELECT c.id, c.article_id, c.position, c.text, c.start, c."end", a.title, '
                "a.source, a.published, a.url FROM chunks c JOIN articles a ON "
                f"a.id = c.article_id WHERE c.article_id IN ({','.join('?' * len(part))}) "
                "ORDER BY c.article_id, c.position", part).fetchall()
            for r in rows:
                out[r[1]].append(Chunk(*r))
        return out

    def rows_after(self, table: str, after: str, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` rows of a COPIED_TABLES table whose key is above `after`, by key."""
        key, fields = copied_table(table)
        rows = self.db.execute(f"SELECT {', '.join(fields)} FROM {table} WHERE {key} > ? "
                               f"ORDER BY {key} LIMIT ?", (after, limit)).fetchall()
        return [dict(zip(fields, r, strict=True)) for r in rows]

    def insert_missing(self, table: str, rows: Sequence[dict[str, Any]]) -> int:
        """Add the rows of a COPIED_TABLES table whose key it does not hold yet, in one
        transaction; rows it holds keep their values. Returns how many were added."""
        _, fields = copied_table(table)
        if not rows:
            return 0
        with self.transaction() as db:
            before = db.total_changes
            for row in rows:
                check_fields(table, fields, row)
                db.execute(f"INSERT OR IGNORE INTO {table} ({', '.join(row)}) VALUES "
                           f"({', '.join('?' * len(row))})", list(row.values()))
            return db.total_changes - before


CONSISTENCY_SQL = (
    "SELECT (SELECT COUNT(*) FROM chunks c LEFT JOIN articles a ON a.id = c.article_id "
    "WHERE a.id IS NULL OR a.state != 'done'), (SELECT COUNT(*) FROM articles a WHERE "
    "a.state = 'done' AND a.n_chunks != (SELECT COUNT(*) FROM chunks c "
    "WHERE c.article_id = a.id))")


def check_fields(table: str, valid: Sequence[str], fields: Iterable[str],
                 empty_ok: bool = True) -> None:
    """Field names come from code, yet they go into SQL: refuse any the table does not have."""
    fields = list(fields)
    unknown = [f for f in fields if f not in valid]
    if unknown or (not fields and not empty_ok):
        raise ValueError(f"Unknown {table} field(s) {sorted(unknown)}. Valid fields are: "
                         f"{list(valid)}")


def copied_table(table: str) -> tuple[str, tuple[str, ...]]:
    """The key and fields of a table an export copies (COPIED_TABLES); other names refused."""
    if table not in COPIED_TABLES:
        raise ValueError(f"Unknown table {table!r}. Valid tables are: {list(COPIED_TABLES)}")
    return COPIED_TABLES[table]


def feed_report_from(sources: Sequence[tuple], counts: Sequence[tuple]) -> list[dict[str, Any]]:
    """`Catalog.feed_report` from the feed_sources rows and (source, state, count) rows."""
    by_source: dict[str, dict[str, int]] = {}
    for source, state, n in counts:
        by_source.setdefault(source, {})[state] = n
    out = []
    for row in sources:
        src = dict(zip(FEED_SOURCE_FIELDS, row, strict=True))
        states = by_source.get(src["url"], {})
        out.append({
            "url": src["url"], "parent": src["parent"], "kind": src["kind"],
            "title": src["title"], "last_poll": src["last_poll"],
            "http_status": src["last_status"], "error": src["last_error"],
            "next_poll": src["next_poll"], "polls": src["polls"],
            "items": {"seen": sum(states.values()),
                      **{state: states.get(state, 0) for state in FEED_ITEM_STATES}},
        })
    return out


def open_catalog(settings: Any, *, readonly: bool = False) -> Any:
    """The catalog the settings name: PostgreSQL when `catalog_url` is set (several hosts),
    else the SQLite file in the data folder."""
    if settings.catalog_url:
        from rag.catalog_postgres import PostgresCatalog

        return PostgresCatalog(settings.catalog_url, readonly=readonly)
    return SQLiteCatalog(settings.catalog_path, readonly=readonly)


def fts_query(text: str, max_terms: int = 32) -> str:
    """An OR query of the question's content words, each quoted (FTS syntax is not ours)."""
    seen: list[str] = []
    for w in content_words(text):
        w = w.replace('"', "")
        if w and w not in seen:
            seen.append(w)
    return " OR ".join(f'"{w}"' for w in seen[:max_terms])


def filter_sql(filters: Filters | None) -> tuple[str, list]:
    """The filters as a WHERE fragment over `articles a`, and its arguments."""
    if filters is None:
        return "", []
    parts, args = [], []
    if filters.sources:
        parts.append(f"a.source IN ({','.join('?' * len(filters.sources))})")
        args.extend(filters.sources)
    if filters.since_day is not None:
        parts.append("a.published_day >= ?")
        args.append(filters.since_day)
    if filters.until_day is not None:
        parts.append("a.published_day <= ?")
        args.append(filters.until_day)
    return " AND ".join(parts), args


def _varints(blob: bytes) -> list[int]:
    """SQLite varints, as FTS5 stores its row and token totals (the 'averages' record)."""
    out, i = [], 0
    while i < len(blob):
        value = 0
        for n in range(9):
            byte = blob[i]
            i += 1
            if n == 8:
                value = (value << 8) | byte
                break
            value = (value << 7) | (byte & 0x7F)
            if byte < 0x80:
                break
        out.append(value)
    return out
