"""The catalog on PostgreSQL: the `Catalog` protocol (rag/protocols.py) for several hosts.

Any number of `newsrag serve` workers, ingests and watchers on any hosts share one database
(`NEWSRAG_CATALOG_URL=postgresql://...`) and one Chroma server; nothing else is shared. What
SQLite does with its file, this does with the server:

- the two-step write (articles 'pending', then chunks and 'done' in one transaction), exactly as
  `SQLiteCatalog`, so that `Index.recover` rolls back what a crash left;
- chunk rowids from a sequence, handed out inside a transaction-level advisory lock so that they
  rise in commit order and are never reused: a reader following by rowid sees every write;
- a change log (`change_log`, one row per committed write) that `version()` reads, where SQLite
  has `PRAGMA data_version`: workers poll it and catch up (rag.bm25);
- the ingest lock as a session advisory lock: one writer at a time across all hosts, released by
  the server when the writer's connection ends (killed or not);
- the lexical copy as a `tsvector` per chunk (the text weighted A, the headline B) with a GIN
  index, written in the same transaction as the chunk; `lexical_check` recomputes it;
- schema migrations on first use, under an advisory lock; a schema newer than this code is
  refused.

The database going away gives a `StoreError` saying so; the next call reconnects, so a server
resumes by itself when the database is back. A read retries once on a fresh connection; a write
does not (its batch stays 'pending' and is rolled back by the next ingest). Credentials come
only from the URL or the environment (libpq's PG* variables) and are never printed: messages
name the catalog by `redacted_url(url)`.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from rag.catalog import (
    ARTICLE_FIELDS,
    CONSISTENCY_SQL,
    FEED_ITEM_FIELDS,
    FEED_SOURCE_FIELDS,
    RECORD_FIELDS,
    StoredArticle,
    check_fields,
    copied_table,
    feed_report_from,
    fts_query,
)
from rag.dates import published_day
from rag.errors import StoreError
from rag.filters import Filters
from rag.storage import redacted_url
from rag.types import Article, Chunk

SCHEMA_VERSION = 1
# advisory lock keys (any two 32-bit numbers of ours): the ingest lock, migrations, rowids
_LOCK_SPACE = 0x6E657773  # "news"
_INGEST_LOCK, _MIGRATE_LOCK, _ROWID_LOCK = 1, 2, 3
_LOG_KEEP = 1000  # change log rows kept; older ones are pruned by the writers
_TSV = "setweight(to_tsvector('english', {text}), 'A') || " \
       "setweight(to_tsvector('english', {title}), 'B')"

MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
  path TEXT PRIMARY KEY, size BIGINT, mtime_ns BIGINT, article_ids TEXT, skipped TEXT,
  ingested_at DOUBLE PRECISION
);
CREATE SEQUENCE IF NOT EXISTS articles_seq;
CREATE TABLE IF NOT EXISTS articles (
  id TEXT PRIMARY KEY, state TEXT NOT NULL, title TEXT, url TEXT, source TEXT, authors TEXT,
  published TEXT, published_day INTEGER, content_hash TEXT, origin TEXT, file TEXT,
  external_id TEXT, text TEXT, n_chunks INTEGER, ingested_at DOUBLE PRECISION,
  seq BIGINT NOT NULL DEFAULT nextval('articles_seq')
);
CREATE INDEX IF NOT EXISTS articles_hash ON articles(content_hash);
CREATE INDEX IF NOT EXISTS articles_file ON articles(file);
CREATE INDEX IF NOT EXISTS articles_state ON articles(state);
CREATE INDEX IF NOT EXISTS articles_day ON articles(published_day);
CREATE INDEX IF NOT EXISTS articles_external ON articles(external_id);
CREATE INDEX IF NOT EXISTS articles_seq_order ON articles(seq);
CREATE SEQUENCE IF NOT EXISTS chunk_rowid;
CREATE TABLE IF NOT EXISTS chunks (
  rowid BIGINT PRIMARY KEY, id TEXT UNIQUE NOT NULL, article_id TEXT NOT NULL,
  position INTEGER, start INTEGER, "end" INTEGER, text TEXT NOT NULL, tsv TSVECTOR NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id);
CREATE INDEX IF NOT EXISTS chunks_tsv ON chunks USING GIN (tsv);
CREATE TABLE IF NOT EXISTS lsh (band INTEGER, bucket BIGINT, article_id TEXT);
CREATE INDEX IF NOT EXISTS lsh_bucket ON lsh(band, bucket);
CREATE INDEX IF NOT EXISTS lsh_article ON lsh(article_id);
CREATE TABLE IF NOT EXISTS signatures (article_id TEXT PRIMARY KEY, sig BYTEA);
CREATE TABLE IF NOT EXISTS duplicates (
  id TEXT PRIMARY KEY, duplicate_of TEXT NOT NULL, kind TEXT, similarity DOUBLE PRECISION,
  title TEXT, origin TEXT, file TEXT, external_id TEXT
);
CREATE INDEX IF NOT EXISTS duplicates_file ON duplicates(file);
CREATE INDEX IF NOT EXISTS duplicates_of ON duplicates(duplicate_of);
CREATE TABLE IF NOT EXISTS feed_sources (
  url TEXT PRIMARY KEY, parent TEXT, kind TEXT, title TEXT, etag TEXT, last_modified TEXT,
  last_poll DOUBLE PRECISION, last_status INTEGER, last_error TEXT, next_poll DOUBLE PRECISION,
  polls INTEGER NOT NULL DEFAULT 0, added_at DOUBLE PRECISION
);
CREATE TABLE IF NOT EXISTS feed_items (
  url TEXT PRIMARY KEY, link TEXT, source_url TEXT, guid TEXT, title TEXT, published TEXT,
  version TEXT, fallback TEXT, state TEXT NOT NULL, tries INTEGER NOT NULL DEFAULT 0,
  next_try DOUBLE PRECISION, http_status INTEGER, error TEXT, article_id TEXT, canonical TEXT,
  etag TEXT, last_modified TEXT, first_seen DOUBLE PRECISION, updated_at DOUBLE PRECISION,
  seq BIGSERIAL
);
CREATE INDEX IF NOT EXISTS feed_items_source ON feed_items(source_url, state);
CREATE INDEX IF NOT EXISTS feed_items_guid ON feed_items(guid);
CREATE INDEX IF NOT EXISTS feed_items_canonical ON feed_items(canonical);
CREATE INDEX IF NOT EXISTS feed_items_due ON feed_items(state, next_try);
CREATE TABLE IF NOT EXISTS change_log (
  id BIGSERIAL PRIMARY KEY, at DOUBLE PRECISION NOT NULL, what TEXT NOT NULL
);
""",
}


class PostgresCatalog:
    """The catalog in a PostgreSQL database: the `Catalog` protocol for several hosts."""

    def __init__(self, url: str, *, readonly: bool = False, connect_timeout: int = 10):
        self.url = url
        self.where = redacted_url(url)
        self.readonly = readonly
        self.why_readonly = "was opened read-only" if readonly else ""
        self.connect_timeout = connect_timeout
        self.lock = threading.RLock()  # one connection, used by one thread at a time
        self._db: psycopg.Connection | None = None
        self._in_transaction = False
        try:
            self._conn()
            if readonly:
                self._check_schema(self._schema_version())
            else:
                self._migrate()
        except psycopg.Error as e:
            self.close()
            raise self._unreachable("Opening the catalog", e) from None
        except BaseException:
            self.close()
            raise

    # --- connection ---------------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection:
        options = "-c default_transaction_read_only=on" if self.readonly else None
        return psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout,
                               application_name="newsrag", options=options or "")

    def _conn(self) -> psycopg.Connection:
        if self._db is None or self._db.closed or self._db.broken:
            self._drop()
            self._db = self._connect()
        return self._db

    def _drop(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except psycopg.Error:
                pass
            self._db = None

    def _unreachable(self, what: str, e: BaseException) -> StoreError:
        cause = " ".join(str(e).split()) or type(e).__name__
        if isinstance(e, psycopg.OperationalError):
            return StoreError(
                f"{what} failed: the catalog database {self.where} is unreachable ({cause}). "
                "What was stored is kept; newsrag reconnects on the next request, and an "
                "interrupted ingest batch is rolled back when the ingest runs again.")
        return StoreError(f"{what} failed: {cause} (catalog {self.where}). Re-running the "
                          "ingest rolls back a half-written batch.")

    def _rows(self, sql: str, args: Sequence | None = None) -> list[tuple]:
        """Run a read; outside a transaction, once more on a fresh connection if the first
        one was lost (the database restarted, say)."""
        with self.lock:
            if self._in_transaction:
                return self._execute(sql, args)
            for attempt in (1, 2):
                try:
                    self._conn()
                    return self._execute(sql, args)
                except psycopg.OperationalError as e:
                    self._drop()
                    if attempt == 2:
                        raise self._unreachable("Reading the catalog", e) from None
                except psycopg.Error as e:
                    raise self._unreachable("Reading the catalog", e) from None
        raise AssertionError("unreachable")

    def _execute(self, sql: str, args: Sequence | None = None) -> list[tuple]:
        assert self._db is not None
        cur = self._db.execute(sql, args)
        return cur.fetchall() if cur.description else []

    def _one(self, sql: str, args: Sequence | None = None) -> tuple | None:
        rows = self._rows(sql, args)
        return rows[0] if rows else None

    @contextmanager
    def transaction(self, what: str = "write") -> Iterator[Callable[..., list[tuple]]]:
        """A write transaction; yields an `execute(sql, args)`. Logged in the change log."""
        if self.readonly:
            raise self.cannot_write(f"write to the catalog {self.where}")
        with self.lock:
            try:
                db = self._conn()
                with db.transaction():
                    self._in_transaction = True
                    yield self._execute
                    last = self._execute("INSERT INTO change_log (at, what) VALUES (%s, %s) "
                                         "RETURNING id", (time.time(), what))[0][0]
                    if last % 100 == 0:
                        self._execute("DELETE FROM change_log WHERE id <= %s",
                                      (last - _LOG_KEEP,))
            except psycopg.Error as e:
                if isinstance(e, psycopg.OperationalError):
                    self._drop()
                raise self._unreachable(f"Writing the catalog {self.where}", e) from e
            finally:
                self._in_transaction = False

    def cannot_write(self, action: str) -> StoreError:
        return StoreError(f"Cannot {action}: the catalog {self.where} {self.why_readonly}. "
                          "Open it for writing (the index can still be queried).")

    def close(self) -> None:
        with self.lock:
            self._drop()

    # --- schema -------------------------------------------------------------------------------
    def _schema_version(self) -> int:
        if self._one("SELECT to_regclass('meta')")[0] is None:
            return 0
        row = self._one("SELECT value FROM meta WHERE key='schema_version'")
        return int(row[0]) if row else 0

    def _check_schema(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"The catalog {self.where} has schema version {version}, newer than this newsrag "
                f"knows ({SCHEMA_VERSION}): upgrade newsrag on this host.")
        if self.readonly and version == 0:
            raise StoreError(f"There is no index in the catalog {self.where} yet, and it was "
                             "opened read-only: ingest into it first.")

    def _migrate(self) -> None:
        """Create or upgrade the schema, one step at a time, one host at a time."""
        db = self._conn()
        with self.lock, db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_SPACE, _MIGRATE_LOCK))
            version = self._schema_version()
            self._check_schema(version)
            for step in sorted(v for v in MIGRATIONS if v > version):
                db.execute(MIGRATIONS[step])
                db.execute("INSERT INTO meta VALUES ('schema_version', %s) ON CONFLICT (key) "
                           "DO UPDATE SET value = excluded.value", (str(step),))

    # --- the ingest lock ----------------------------------------------------------------------
    @contextmanager
    def exclusive_writer(self) -> Iterator[None]:
        """One ingest or watcher at a time on this catalog, on any host: a session advisory
        lock on a connection of its own, released when it closes or the process dies."""
        try:
            holder = self._connect()
        except psycopg.Error as e:
            raise self._unreachable("Taking the ingest lock", e) from None
        try:
            got = holder.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                 (_LOCK_SPACE, _INGEST_LOCK)).fetchone()[0]
            if not got:
                raise StoreError(
                    f"Another ingest is writing to {self.where}: wait for it to finish (two at "
                    "once would undo each other's work).")
            yield
        finally:
            try:
                holder.close()
            except psycopg.Error:
                pass

    # --- meta ---------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key=%s", (key,))
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction("meta") as q:
            q("INSERT INTO meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET "
              "value = excluded.value", (key, value))

    def uid(self) -> str:
        uid = self.get_meta("uid")
        if uid is None:
            if self.readonly:
                return f"readonly:{self.where}"
            with self.transaction("meta") as q:
                q("INSERT INTO meta VALUES ('uid', %s) ON CONFLICT DO NOTHING",
                  (uuid.uuid4().hex,))
            uid = self.get_meta("uid")
        return uid or ""

    # --- files --------------------------------------------------------------------------------
    def file_state(self, path: str) -> tuple[int, int] | None:
        row = self._one("SELECT size, mtime_ns FROM files WHERE path=%s", (path,))
        return (row[0], row[1]) if row else None

    def record_file(self, path: str, size: int, mtime_ns: int, article_ids: Sequence[str],
                    skipped: Sequence) -> None:
        with self.transaction("files") as q:
            q("INSERT INTO files VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (path) DO UPDATE SET "
              "size=excluded.size, mtime_ns=excluded.mtime_ns, article_ids=excluded.article_ids, "
              "skipped=excluded.skipped, ingested_at=excluded.ingested_at",
              (path, size, mtime_ns, json.dumps(list(article_ids)), json.dumps(list(skipped)),
               time.time()))

    def file_seen_ids(self, path: str) -> list[str]:
        row = self._one("SELECT article_ids FROM files WHERE path=%s", (path,))
        return json.loads(row[0] or "[]") if row else []

    def file_article_ids(self, path: str) -> list[str]:
        return [r[0] for r in self._rows("SELECT id FROM articles WHERE file=%s ORDER BY seq",
                                         (path,))]

    def file_duplicate_ids(self, path: str) -> list[str]:
        return [r[0] for r in self._rows("SELECT id FROM duplicates WHERE file=%s ORDER BY id",
                                         (path,))]

    def files(self) -> list[str]:
        return [r[0] for r in self._rows("SELECT path FROM files ORDER BY path")]

    def forget_file(self, path: str) -> None:
        with self.transaction("files") as q:
            q("DELETE FROM files WHERE path=%s", (path,))
            q("DELETE FROM duplicates WHERE file=%s", (path,))

    # --- articles -----------------------------------------------------------------------------
    def article(self, article_id: str) -> StoredArticle | None:
        row = self._one("SELECT id, state, title, url, source, published, content_hash, file, "
                        "external_id, n_chunks FROM articles WHERE id=%s", (article_id,))
        return StoredArticle(*row) if row else None

    def article_text(self, article_id: str) -> str | None:
        row = self._one("SELECT text FROM articles WHERE id=%s", (article_id,))
        return row[0] if row else None

    def id_with_hash(self, content_hash: str) -> str | None:
        row = self._one("SELECT id FROM articles WHERE content_hash=%s AND state='done' "
                        "ORDER BY seq LIMIT 1", (content_hash,))
        return row[0] if row else None

    def duplicate_of(self, article_id: str) -> str | None:
        row = self._one("SELECT duplicate_of FROM duplicates WHERE id=%s", (article_id,))
        return row[0] if row else None

    def mark_pending(self, articles: Iterable[tuple[Article, str | None]]) -> None:
        """Step 1: the articles about to be (re)written; their old chunks count as doomed. A
        rewritten article moves to the end of the stored order, as in SQLite."""
        with self.transaction("articles") as q:
            for art, file in articles:
                self._retitle(q, art.id, art.title)
                q("INSERT INTO articles (id, state, title, url, source, authors, published, "
                  "published_day, content_hash, origin, file, external_id, text, n_chunks, "
                  "ingested_at) VALUES (%s, 'pending', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                  "%s, 0, %s) ON CONFLICT (id) DO UPDATE SET " + ", ".join(
                      f"{f}=excluded.{f}" for f in ARTICLE_FIELDS if f != "id")
                  + ", seq=nextval('articles_seq')",
                  (art.id, art.title, art.url, art.source, json.dumps(list(art.authors)),
                   art.published, published_day(art.published), art.content_hash, art.origin,
                   file, art.external_id, art.text, time.time()))

    def commit_articles(self, chunks_by_article: dict[str, list[Chunk]],
                        lsh_rows: Sequence[tuple[int, int, str]],
                        signatures: dict[str, bytes]) -> None:
        """Step 2: chunks and lexical rows written, articles 'done', all in one transaction.
        Rowids come from a sequence inside an advisory lock held to the commit, so that they
        rise in commit order (readers follow them, rag.bm25) and are never reused."""
        insert = ('INSERT INTO chunks (rowid, id, article_id, position, start, "end", text, tsv) '
                  "VALUES (nextval('chunk_rowid'), %s, %s, %s, %s, %s, %s, "
                  + _TSV.format(text="%s", title="%s") + ")")
        with self.transaction("articles") as q:
            q("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_SPACE, _ROWID_LOCK))
            ids = list(chunks_by_article)
            if ids:
                q("DELETE FROM chunks WHERE article_id = ANY(%s)", (ids,))
                q("DELETE FROM lsh WHERE article_id = ANY(%s)", (ids,))
            rows = [(c.id, c.article_id, c.position, c.start, c.end, c.text, c.text,
                     c.title or "") for chunks in chunks_by_article.values() for c in chunks]
            assert self._db is not None
            with self._db.cursor() as cur:
                if rows:
                    cur.executemany(insert, rows)
                cur.executemany("UPDATE articles SET state='done', n_chunks=%s WHERE id=%s",
                                [(len(chunks), aid) for aid, chunks in chunks_by_article.items()])
                if lsh_rows:
                    cur.executemany("INSERT INTO lsh VALUES (%s, %s, %s)", list(lsh_rows))
                if signatures:
                    cur.executemany(
                        "INSERT INTO signatures VALUES (%s, %s) ON CONFLICT (article_id) DO "
                        "UPDATE SET sig = excluded.sig", list(signatures.items()))

    def set_article_file(self, article_id: str, file: str | None) -> None:
        with self.transaction("articles") as q:
            q("UPDATE articles SET file=%s WHERE id=%s", (file, article_id))

    def record_duplicate(self, art: Article, duplicate_of: str, kind: str, similarity: float,
                         file: str | None) -> None:
        with self.transaction("duplicates") as q:
            q("INSERT INTO duplicates VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) "
              "DO UPDATE SET duplicate_of=excluded.duplicate_of, kind=excluded.kind, "
              "similarity=excluded.similarity, title=excluded.title, origin=excluded.origin, "
              "file=excluded.file, external_id=excluded.external_id",
              (art.id, duplicate_of, kind, similarity, art.title, art.origin, file,
               art.external_id))

    def remove_articles(self, article_ids: Sequence[str]) -> None:
        ids = list(article_ids)
        with self.transaction("articles") as q:
            for table, column in (("chunks", "article_id"), ("lsh", "article_id"),
                                  ("signatures", "article_id"), ("articles", "id")):
                q(f"DELETE FROM {table} WHERE {column} = ANY(%s)", (ids,))

    def remove_duplicates(self, ids: Sequence[str]) -> None:
        with self.transaction("duplicates") as q:
            q("DELETE FROM duplicates WHERE id = ANY(%s)", (list(ids),))

    @staticmethod
    def _retitle(q: Callable[..., list[tuple]], article_id: str, title: str) -> None:
        """Keep the lexical rows of an article's chunks in step with its new title."""
        row = q("SELECT title FROM articles WHERE id=%s", (article_id,))
        if not row or (row[0][0] or "") == (title or ""):
            return
        q("UPDATE chunks SET tsv = " + _TSV.format(text="text", title="%s")
          + " WHERE article_id=%s", (title or "", article_id))

    def mark_removing(self, article_ids: Sequence[str]) -> None:
        with self.transaction("articles") as q:
            q("UPDATE articles SET state='pending' WHERE id = ANY(%s)", (list(article_ids),))

    def pending_articles(self) -> list[str]:
        return [r[0] for r in self._rows(
            "SELECT id FROM articles WHERE state='pending' ORDER BY seq")]

    # --- dedup --------------------------------------------------------------------------------
    def lsh_candidates(self, bands: Sequence[tuple[int, int]]) -> set[str]:
        if not bands:
            return set()
        rows = self._rows(
            "SELECT DISTINCT l.article_id FROM lsh l JOIN unnest(%s::int[], %s::bigint[]) AS "
            "b(band, bucket) ON l.band = b.band AND l.bucket = b.bucket",
            ([b for b, _ in bands], [h for _, h in bands]))
        return {r[0] for r in rows}

    def signature(self, article_id: str) -> bytes | None:
        row = self._one("SELECT sig FROM signatures WHERE article_id=%s", (article_id,))
        return bytes(row[0]) if row and row[0] is not None else None

    def files_of_duplicates_of(self, article_ids: Sequence[str]) -> list[str]:
        rows = self._rows("SELECT DISTINCT file FROM duplicates WHERE duplicate_of = ANY(%s) AND "
                          "file IS NOT NULL ORDER BY file", (list(article_ids),))
        return [r[0] for r in rows]

    # --- reading ------------------------------------------------------------------------------
    _CHUNK = ('SELECT c.id, c.article_id, c.position, c.text, c.start, c."end", a.title, '
              "a.source, a.published, a.url FROM chunks c JOIN articles a ON a.id = c.article_id ")

    def chunks_by_ids(self, chunk_ids: Sequence[str]) -> dict[str, Chunk]:
        if not chunk_ids:
            return {}
        rows = self._rows(self._CHUNK + "WHERE c.id = ANY(%s) ORDER BY c.rowid",
                          (list(chunk_ids),))
        return {r[0]: Chunk(*r) for r in rows}

    def chunk_ids_by_rowid(self, rowids: Sequence[int]) -> dict[int, str]:
        if not rowids:
            return {}
        return dict(self._rows("SELECT rowid, id FROM chunks WHERE rowid = ANY(%s) ORDER BY rowid",
                               ([int(r) for r in rowids],)))

    def rowids_by_chunk_id(self, chunk_ids: Sequence[str]) -> dict[str, int]:
        if not chunk_ids:
            return {}
        return dict(self._rows("SELECT id, rowid FROM chunks WHERE id = ANY(%s) ORDER BY rowid",
                               (list(chunk_ids),)))

    def counts(self) -> dict[str, int]:
        row = self._one(
            "SELECT (SELECT COUNT(*) FROM articles WHERE state='done'), "
            "(SELECT COUNT(*) FROM chunks), (SELECT COUNT(*) FROM duplicates), "
            "(SELECT COUNT(*) FROM files), "
            "(SELECT COUNT(*) FROM articles WHERE state='pending')")
        return dict(zip(("articles", "chunks", "duplicates", "files", "pending"), row,
                        strict=True))

    def sources(self) -> list[tuple[str, int]]:
        return [(r[0], r[1]) for r in self._rows(
            "SELECT source, COUNT(*) FROM articles WHERE state='done' AND source IS NOT NULL "
            "GROUP BY source ORDER BY COUNT(*) DESC, source")]

    def date_range(self) -> tuple[str | None, str | None]:
        row = self._one("SELECT MIN(published), MAX(published) FROM articles WHERE "
                        "state='done' AND published IS NOT NULL")
        return row[0], row[1]

    def all_chunk_ids(self) -> set[str]:
        return {r[0] for r in self._rows("SELECT id FROM chunks")}

    def chunk_count_by_article(self) -> dict[str, int]:
        return dict(self._rows("SELECT article_id, COUNT(*) FROM chunks GROUP BY article_id "
                                     "ORDER BY article_id"))

    # --- following the catalog (rag.bm25) -----------------------------------------------------
    def version(self) -> tuple:
        """Changes whenever a write commits, on any host: the change log's size and newest
        entry (both, since entries of overlapping transactions commit out of id order)."""
        return tuple(self._one("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM change_log"))

    def chunk_rows_after(self, rowid: int, batch: int = 5000) -> Iterator[list[tuple]]:
        """Batches of (rowid, text, title, source, published_day) after `rowid`, in order."""
        after = int(rowid)
        while True:
            rows = self._rows(
                "SELECT c.rowid, c.text, a.title, a.source, a.published_day FROM chunks c "
                "JOIN articles a ON a.id = c.article_id WHERE c.rowid > %s ORDER BY c.rowid "
                "LIMIT %s", (after, batch))
            if not rows:
                return
            yield rows
            after = rows[-1][0]

    def chunk_count(self) -> int:
        return self._one("SELECT COUNT(*) FROM chunks")[0]

    def chunk_rowids(self) -> list[int]:
        return [r[0] for r in self._rows("SELECT rowid FROM chunks ORDER BY rowid")]

    def chunks_in_order(self, batch: int = 5000) -> Iterator[list[Chunk]]:
        after: tuple[str, int] = ("", -1)
        while True:
            rows = self._rows(self._CHUNK + "WHERE (c.article_id, c.position) > (%s, %s) "
                              "ORDER BY c.article_id, c.position LIMIT %s", (*after, batch))
            if not rows:
                return
            yield [Chunk(*r) for r in rows]
            after = (rows[-1][1], rows[-1][2])

    def article_ids_with_chunks(self) -> list[str]:
        return [r[0] for r in self._rows(
            "SELECT DISTINCT article_id FROM chunks ORDER BY article_id")]

    def chunk_texts(self, article_ids: Sequence[str]) -> list[str]:
        return [r[0] for r in self._rows(
            "SELECT text FROM chunks WHERE article_id = ANY(%s) ORDER BY id COLLATE \"C\"",
            (list(article_ids),))]

    def existing_chunk_ids(self, chunk_ids: Sequence[str]) -> set[str]:
        if not chunk_ids:
            return set()
        return {r[0] for r in self._rows("SELECT id FROM chunks WHERE id = ANY(%s)",
                                         (list(chunk_ids),))}

    def titles(self) -> list[str]:
        return [r[0] for r in self.article_rows("title")]

    def article_rows(self, *fields: str) -> list[tuple]:
        return self._table_rows("articles", ARTICLE_FIELDS, fields)

    def feed_item_rows(self, *fields: str) -> list[tuple]:
        return self._table_rows("feed_items", FEED_ITEM_FIELDS, fields)

    def _table_rows(self, table: str, valid: Sequence[str], fields: Sequence[str]) -> list[tuple]:
        check_fields(table, valid, fields, empty_ok=False)
        return self._rows(f"SELECT {', '.join(fields)} FROM {table} ORDER BY seq")

    def files_of_articles(self) -> set[str]:
        return {r[0] for r in self._rows(
            "SELECT file FROM articles UNION SELECT file FROM duplicates") if r[0]}

    def articles_standing_for(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        keys = list(keys)
        rows = self._rows(
            "SELECT id FROM articles WHERE state='done' AND (external_id = ANY(%s) OR "
            "id = ANY(%s)) UNION SELECT duplicate_of FROM duplicates WHERE external_id = ANY(%s) "
            "OR id = ANY(%s)", (keys,) * 4)
        return {r[0] for r in rows}

    def titles_containing(self, fragment: str) -> list[tuple[str, str]]:
        like = "%" + fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return [tuple(r) for r in self._rows(
            "SELECT id, title FROM articles WHERE state='done' AND title ILIKE %s "
            "UNION SELECT duplicate_of, title FROM duplicates WHERE title ILIKE %s",
            (like, like))]

    # --- checks -------------------------------------------------------------------------------
    def consistency(self) -> dict[str, int]:
        orphans, short = self._one(CONSISTENCY_SQL)
        return {"orphan_chunks": orphans, "articles_with_wrong_chunk_count": short}

    def state_counts(self) -> dict[str, int]:
        done, pending = self._one("SELECT COUNT(*) FILTER (WHERE state='done'), "
                                  "COUNT(*) FILTER (WHERE state='pending') FROM articles")
        return {"done": done, "pending": pending}

    def contents(self) -> dict[str, Any]:
        return {
            "articles": {r[0]: tuple(r[1:]) for r in self._rows(
                "SELECT id, state, content_hash, title, n_chunks FROM articles")},
            "chunks": {r[0]: tuple(r[1:]) for r in self._rows(
                'SELECT id, article_id, position, start, "end", text FROM chunks')},
            "duplicates": dict(self._rows("SELECT id, duplicate_of FROM duplicates")),
            "same_hash_twice": self._one(
                "SELECT COUNT(*) FROM (SELECT content_hash FROM articles GROUP BY content_hash "
                "HAVING COUNT(*) > 1) x")[0],
        }

    def lexical_check(self) -> dict[str, Any]:
        """Is each chunk's stored tsvector the one its text and headline give now?"""
        rows, matching, tokens, expected = self._one(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE c.tsv = x.tsv), "
            "COALESCE(SUM(length(c.tsv)), 0), COALESCE(SUM(length(x.tsv)), 0) FROM chunks c "
            "LEFT JOIN articles a ON a.id = c.article_id CROSS JOIN LATERAL (SELECT "
            + _TSV.format(text="c.text", title="COALESCE(a.title, '')") + " AS tsv) x")
        return {"fts_rows": rows, "fts_rows_match": rows == matching,
                "fts_tokens": int(tokens), "fts_tokens_expected": int(expected)}

    def fts_search(self, text: str, n: int, filters: Filters | None = None
                   ) -> list[tuple[str, float]]:
        """(chunk id, ts_rank score, higher is better) for the n best chunks."""
        words = fts_query(text)
        if not words:
            return []
        terms = [w.strip('"') for w in words.split(" OR ")]
        where, args = _filter_sql(filters)
        sql = ("SELECT c.id, ts_rank('{0, 0, 0.5, 1}', c.tsv, q) AS s FROM chunks c "
               "JOIN articles a ON a.id = c.article_id, "
               "(SELECT to_tsquery('english', string_agg(quote_literal(t), ' | ')) AS q "
               " FROM unnest(%s::text[]) t WHERE numnode(plainto_tsquery('english', t)) > 0) w "
               f"WHERE q IS NOT NULL AND c.tsv @@ q {'AND ' + where if where else ''} "
               "ORDER BY s DESC, c.id LIMIT %s")
        rows = self._rows(sql, [terms, *args, n])
        return [(cid, float(score)) for cid, score in rows]

    # --- export and import (ingest/export.py, ingest/importer.py) ---------------------------
    def article_records(self, after: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """Up to `limit` finished articles stored after position `after` (0: from the first),
        in stored order: (position, its RECORD_FIELDS and its dedup `signature`)."""
        cols = ", ".join(f"a.{f}" for f in RECORD_FIELDS)
        rows = self._rows(
            f"SELECT a.seq, {cols}, s.sig FROM articles a LEFT JOIN signatures s ON "
            "s.article_id = a.id WHERE a.state='done' AND a.seq > %s ORDER BY a.seq LIMIT %s",
            (after, limit))
        return [(r[0], {**dict(zip(RECORD_FIELDS, r[1:-1], strict=True)),
                        "signature": None if r[-1] is None else bytes(r[-1])}) for r in rows]

    def chunks_of(self, article_ids: Sequence[str]) -> dict[str, list[Chunk]]:
        """The chunks of these articles, each article's in position order."""
        out: dict[str, list[Chunk]] = {a: [] for a in article_ids}
        if out:
            for r in self._rows(self._CHUNK + "WHERE c.article_id = ANY(%s) ORDER BY "
                                "c.article_id, c.position", (list(out),)):
                out[r[1]].append(Chunk(*r))
        return out

    def rows_after(self, table: str, after: str, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` rows of a COPIED_TABLES table whose key is above `after`, by key."""
        key, fields = copied_table(table)
        rows = self._rows(f"SELECT {', '.join(fields)} FROM {table} WHERE {key} > %s "
                          f"ORDER BY {key} LIMIT %s", (after, limit))
        return [dict(zip(fields, r, strict=True)) for r in rows]

    def insert_missing(self, table: str, rows: Sequence[dict[str, Any]]) -> int:
        """Add the rows of a COPIED_TABLES table whose key it does not hold yet, in one
        transaction; rows it holds keep their values. Returns how many were added."""
        _, fields = copied_table(table)
        for row in rows:
            check_fields(table, fields, row)
        if not rows:
            return 0
        added = 0
        with self.transaction(table) as q:
            for row in rows:
                added += len(q(f"INSERT INTO {table} ({', '.join(row)}) VALUES "
                               f"({', '.join(['%s'] * len(row))}) ON CONFLICT DO NOTHING "
                               "RETURNING 1", list(row.values())))
        return added

    # --- feeds (ingest.watch) -----------------------------------------------------------------
    def feed_source(self, url: str) -> dict[str, Any] | None:
        row = self._one(f"SELECT {', '.join(FEED_SOURCE_FIELDS)} FROM feed_sources WHERE url=%s",
                        (url,))
        return dict(zip(FEED_SOURCE_FIELDS, row, strict=True)) if row else None

    def feed_item(self, url: str) -> dict[str, Any] | None:
        row = self._one(f"SELECT {', '.join(FEED_ITEM_FIELDS)} FROM feed_items WHERE url=%s",
                        (url,))
        return dict(zip(FEED_ITEM_FIELDS, row, strict=True)) if row else None

    def feed_item_known(self, guid: str | None, canonical: str | None) -> str | None:
        for column, value in (("guid", guid), ("canonical", canonical), ("url", canonical)):
            if value:
                row = self._one(f"SELECT url FROM feed_items WHERE {column}=%s ORDER BY seq "
                                "LIMIT 1", (value,))
                if row:
                    return row[0]
        return None

    def feed_items_due(self, source_url: str, now: float) -> list[dict[str, Any]]:
        rows = self._rows(
            f"SELECT {', '.join(FEED_ITEM_FIELDS)} FROM feed_items WHERE source_url=%s AND "
            "state IN ('new', 'retry') AND COALESCE(next_try, 0) <= %s ORDER BY first_seen, url",
            (source_url, now))
        return [dict(zip(FEED_ITEM_FIELDS, r, strict=True)) for r in rows]

    def write_feed_state(self, sources: Sequence[dict[str, Any]] = (),
                         items: Sequence[dict[str, Any]] = ()) -> None:
        for table, valid, rows in (("feed_sources", FEED_SOURCE_FIELDS, sources),
                                   ("feed_items", FEED_ITEM_FIELDS, items)):
            for row in rows:
                check_fields(table, valid, row)
        with self.transaction("feeds") as q:
            for table, rows in (("feed_sources", sources), ("feed_items", items)):
                for row in rows:
                    cols = list(row)
                    sets = ", ".join(f"{c}=excluded.{c}" for c in cols if c != "url")
                    q(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                      f"({', '.join(['%s'] * len(cols))}) ON CONFLICT (url) DO "
                      + (f"UPDATE SET {sets}" if sets else "NOTHING"), [row[c] for c in cols])

    def feed_report(self) -> list[dict[str, Any]]:
        sources = self._rows(f"SELECT {', '.join(FEED_SOURCE_FIELDS)} FROM feed_sources ORDER BY "
                             "parent IS NOT NULL, COALESCE(parent, url), url")
        counts = self._rows(
            "SELECT source_url, state, COUNT(*) FROM feed_items GROUP BY source_url, state")
        return feed_report_from(sources, counts)


def _filter_sql(filters: Filters | None) -> tuple[str, list]:
    """The filters as a WHERE fragment over `articles a`, and its arguments."""
    if filters is None:
        return "", []
    parts: list[str] = []
    args: list = []
    if filters.sources:
        parts.append("a.source = ANY(%s)")
        args.append(list(filters.sources))
    if filters.since_day is not None:
        parts.append("a.published_day >= %s")
        args.append(filters.since_day)
    if filters.until_day is not None:
        parts.append("a.published_day <= %s")
        args.append(filters.until_day)
    return " AND ".join(parts), args
