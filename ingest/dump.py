"""The dump that `newsrag export` writes and `newsrag import` reads: a folder anyone can read.

    PATH/
      manifest.json          what the folder is: format, format and schema versions, the
                             embedder, counts, and each file's size and sha256
      articles.jsonl.gz      one finished article a line, in stored order: its fields
                             (RECORD_FIELDS), `signature` (its MinHash, base64) and `chunks`
                             (id, position, start, end, text)
      duplicates.jsonl.gz    the copies skipped as duplicates, one row a line
      files.jsonl.gz         the source files read (path, size, mtime_ns, ...)
      feed_sources.jsonl.gz  the feed watcher's sources and items
      feed_items.jsonl.gz
      vectors.npz            a vector file (rag/vector_files.py): one vector per chunk, keyed
                             by sha256(model + "\\n" + the text the embedder read)

A table's rows are its columns as the catalog holds them (COPIED_TABLES in rag/catalog.py).
The folder is written under PATH.partial and renamed when complete, so PATH is whole or absent.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import shutil
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from rag.catalog import COPIED_TABLES, RECORD_FIELDS
from rag.errors import ConfigError
from rag.index import embedding_text
from rag.types import Chunk
from rag.vector_files import KEY_BYTES, VectorFile, VectorFileError, vector_key

FORMAT = "newsrag-dump"
FORMAT_VERSION = 1  # the folder's layout and the manifest
SCHEMA_VERSION = 1  # the records' fields: RECORD_FIELDS, the chunk fields, COPIED_TABLES
MANIFEST = "manifest.json"
ARTICLES = "articles"
VECTORS = "vectors.npz"
CHUNK_FIELDS = ("id", "position", "start", "end", "text")


class DumpError(ConfigError):
    """A dump that cannot be read or does not fit the index: says what to do."""


def jsonl_name(table: str) -> str:
    return f"{table}.jsonl.gz"


def article_record(record: dict[str, Any], chunks: Sequence[Chunk]) -> dict[str, Any]:
    """An article of the catalog (`Catalog.article_records`) as a line of articles.jsonl.gz."""
    out = {f: record[f] for f in RECORD_FIELDS}
    out["authors"] = json.loads(record["authors"] or "[]")
    sig = record.get("signature")
    out["signature"] = base64.b64encode(sig).decode("ascii") if sig is not None else None
    out["chunks"] = [{"id": c.id, "position": c.position, "start": c.start, "end": c.end,
                      "text": c.text} for c in chunks]
    return out


class DumpWriter:
    """Writes a dump folder: records and vectors streamed to disk, the manifest last."""

    def __init__(self, path: Path, model: str, dimension: int, source: dict[str, Any]):
        self.path = Path(path)
        if self.path.exists():
            raise DumpError(f"{self.path} exists: export to a new path, or remove it first.")
        self.tmp = self.path.with_name(self.path.name + ".partial")
        shutil.rmtree(self.tmp, ignore_errors=True)  # what an interrupted export left
        self.tmp.mkdir(parents=True)
        self.model, self.dimension, self.source = model, dimension, source
        self.counts: dict[str, int] = {ARTICLES: 0, "chunks": 0}
        self._open: dict[str, Any] = {}
        self._keys: BinaryIO = open(self.tmp / "keys.raw", "wb")  # noqa: SIM115 - closed in finish
        self._vectors: BinaryIO = open(self.tmp / "vectors.raw", "wb")  # noqa: SIM115

    def _jsonl(self, name: str):
        if name not in self._open:
            self._open[name] = gzip.open(  # noqa: SIM115 - closed in finish or abort
                self.tmp / jsonl_name(name), "wt", encoding="utf-8", compresslevel=5)
            self.counts.setdefault(name, 0)
        return self._open[name]

    def add_article(self, record: dict[str, Any], chunks: Sequence[Chunk],
                    vectors: np.ndarray) -> None:
        """One finished article, its chunks and their vectors (a row per chunk)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(chunks), self.dimension):
            raise ValueError(f"{vectors.shape} vectors for {len(chunks)} chunks")
        line = json.dumps(article_record(record, chunks), ensure_ascii=False)
        self._jsonl(ARTICLES).write(line + "\n")
        keys = b"".join(vector_key(self.model, embedding_text(c)) for c in chunks)
        self._keys.write(keys)
        self._vectors.write(vectors.tobytes())
        self.counts[ARTICLES] += 1
        self.counts["chunks"] += len(chunks)

    def add_rows(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        out = self._jsonl(table)
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.counts[table] += len(rows)

    def finish(self) -> dict[str, Any]:
        """Close the files, assemble the vector file, write the manifest, rename: done."""
        for name in (ARTICLES, *COPIED_TABLES):
            self._jsonl(name)  # every file is there, empty or not
        for f in self._open.values():
            f.close()
        self._keys.close()
        self._vectors.close()
        self._assemble_vectors()
        files = {}
        for name in [jsonl_name(n) for n in (ARTICLES, *COPIED_TABLES)] + [VECTORS]:
            _fsync_file(self.tmp / name)
            files[name] = {"bytes": (self.tmp / name).stat().st_size,
                           "sha256": file_sha256(self.tmp / name)}
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "schema_version": SCHEMA_VERSION,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "embedder": {"name": self.model, "dimension": self.dimension},
            "source": self.source,
            "counts": {**self.counts, "vectors": self.counts["chunks"]},
            "files": files,
        }
        _write_synced(self.tmp / MANIFEST, json.dumps(manifest, indent=2).encode("utf-8"))
        _fsync_dir(self.tmp)
        os.rename(self.tmp, self.path)
        _fsync_dir(self.path.parent)
        return manifest

    def _assemble_vectors(self) -> None:
        """vectors.npz from the two raw files, copied through (np.savez wants whole arrays),
        uncompressed so that an import maps it rather than reads it whole."""
        n = self.counts["chunks"]
        with open(self.tmp / VECTORS, "wb") as fh:
            with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                for member, raw, dtype, width in (("keys", "keys.raw", np.uint8, KEY_BYTES),
                                                  ("vectors", "vectors.raw", np.float32,
                                                   self.dimension)):
                    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                              "fortran_order": False, "shape": (n, width)}
                    with zf.open(member + ".npy", "w", force_zip64=True) as out, \
                            open(self.tmp / raw, "rb") as src:
                        np.lib.format.write_array_header_1_0(out, header)
                        shutil.copyfileobj(src, out, 8 << 20)
                    (self.tmp / raw).unlink()
                with zf.open("model.npy", "w") as out:
                    np.lib.format.write_array(out, np.array(self.model), allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())

    def abort(self) -> None:
        for f in (*self._open.values(), self._keys, self._vectors):
            try:
                f.close()
            except (OSError, ValueError, EOFError):
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


class Dump:
    """A dump folder opened for reading: the manifest read and its versions checked."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._verified = False
        manifest_path = self.path / MANIFEST
        if not self.path.exists():
            raise DumpError(f"No such dump: {self.path}")
        if not manifest_path.is_file():
            raise DumpError(f"{self.path} is not a newsrag dump: it has no {MANIFEST} (write "
                            "one with `newsrag export PATH`).")
        try:
            self.manifest = json.loads(manifest_path.read_text("utf-8"))
            self.counts: dict[str, int] = {k: int(v) for k, v in self.manifest["counts"].items()}
            self.files: dict[str, dict[str, Any]] = dict(self.manifest["files"])
            self.embedder = (str(self.manifest["embedder"]["name"]),
                             int(self.manifest["embedder"]["dimension"]))
            fmt, version = self.manifest["format"], int(self.manifest["format_version"])
            schema = int(self.manifest["schema_version"])
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise DumpError(f"The dump's {manifest_path} is damaged ({type(e).__name__}: {e}): "
                            "export the index again.") from None
        if fmt != FORMAT:
            raise DumpError(f"{self.path} is not a newsrag dump (format {fmt!r}).")
        if version != FORMAT_VERSION or schema != SCHEMA_VERSION:
            newer = version > FORMAT_VERSION or schema > SCHEMA_VERSION
            todo = ("upgrade newsrag here, or export it again with this version" if newer else
                    "export it again with this version")
            raise DumpError(
                f"The dump at {self.path} has format version {version}, schema version {schema}; "
                f"this newsrag reads format {FORMAT_VERSION}, schema {SCHEMA_VERSION}: {todo}.")

    def check_embedder(self, name: str, dimension: int) -> None:
        """DumpError unless the dump's vectors are of this embedder."""
        if self.embedder != (name, dimension):
            raise DumpError(
                f"The dump at {self.path} holds vectors of {self.embedder[0]!r} "
                f"({self.embedder[1]} dims), but this index embeds with {name!r} ({dimension} "
                "dims). Import it into an index of the same embedder (--embedder, "
                "NEWSRAG_EMBEDDER, or another data folder), or ingest the sources here instead.")

    def verify(self) -> None:
        """Every file there, of its size and checksum, holding the counted records: else a
        DumpError, before anything is written. Read once: a second call returns at once."""
        if self._verified:
            return
        expected = [jsonl_name(n) for n in (ARTICLES, *COPIED_TABLES)] + [VECTORS]
        missing = [n for n in expected if n not in self.files]
        if missing:
            raise DumpError(f"The dump's manifest lists no {', '.join(missing)}: export again.")
        for name in expected:
            path = self.path / name
            if not path.is_file():
                raise DumpError(f"The dump at {self.path} lacks {name}: copy it whole, or "
                                "export again.")
            size = path.stat().st_size
            if size != self.files[name]["bytes"]:
                raise DumpError(f"The dump's {name} is {size} bytes, its manifest says "
                                f"{self.files[name]['bytes']} (cut short in a copy?): copy it "
                                "again, or export again.")
            lines, digest = _scan(path, name.endswith(".gz"))
            if digest != self.files[name]["sha256"]:
                raise DumpError(f"The dump's {name} does not match its checksum: it is damaged. "
                                "Copy it again, or export again.")
            table = name.removesuffix(".jsonl.gz")
            if lines is not None and lines != self.counts.get(table):
                raise DumpError(f"The dump's {name} holds {lines} records, its manifest says "
                                f"{self.counts.get(table)}: export again.")
        try:
            vectors = VectorFile(self.path / VECTORS)
        except VectorFileError as e:
            raise DumpError(f"The dump's vectors cannot be read: {e}") from None
        if len(vectors) != self.counts.get("vectors") or len(vectors) != self.counts.get("chunks"):
            raise DumpError(f"The dump's {VECTORS} holds {len(vectors)} vectors, its manifest "
                            f"says {self.counts.get('vectors')} for {self.counts.get('chunks')} "
                            "chunks: export again.")
        if (vectors.model, vectors.dimension) != self.embedder:
            raise DumpError(f"The dump's {VECTORS} holds {vectors.model!r} vectors of dimension "
                            f"{vectors.dimension}, its manifest says {self.embedder}: export "
                            "again.")
        self._verified = True

    @property
    def vectors_path(self) -> Path:
        return self.path / VECTORS

    def records(self, table: str) -> Iterator[dict[str, Any]]:
        """The records of articles.jsonl.gz or of a table's file, one at a time."""
        name = jsonl_name(table)
        try:
            with gzip.open(self.path / name, "rt", encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    try:
                        yield json.loads(line)
                    except ValueError as e:
                        raise DumpError(f"The dump's {name}, line {n}, is not JSON ({e}): "
                                        "export again.") from None
        except (OSError, EOFError, zlib.error) as e:
            raise DumpError(f"The dump's {name} cannot be read ({e}): export again.") from None


def file_sha256(path: Path) -> str:
    return _scan(path, False)[1]


def _scan(path: Path, gzipped: bool) -> tuple[int | None, str]:
    """(lines of the decompressed text, or None; sha256 of the bytes), in one read."""
    digest = hashlib.sha256()
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
    lines = 0
    try:
        with open(path, "rb") as f:
            while block := f.read(4 << 20):
                digest.update(block)
                if inflate is not None:
                    lines += inflate.decompress(block).count(b"\n")
    except zlib.error as e:
        raise DumpError(f"The dump's {path.name} is not valid gzip ({e}): export again.") from None
    if inflate is not None and not inflate.eof:
        raise DumpError(f"The dump's {path.name} is cut short: export again.")
    return (lines if gzipped else None), digest.hexdigest()


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
