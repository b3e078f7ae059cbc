"""Raw news files in, clean `Article`s (or a `Skip` saying why not) out, by file type."""
from __future__ import annotations

import os
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from rag.types import Article, Skip

from .common import SkipInput, decode_bytes
from .records import check_mapping

__all__ = ["SUFFIXES", "iter_files", "load_file"]

# suffix (after any ".gz") -> loader kind
SUFFIXES: dict[str, str] = {
    ".html": "html", ".htm": "html",
    ".txt": "text",
    ".json": "records", ".jsonl": "records", ".ndjson": "records", ".csv": "records",
    ".rss": "feed", ".atom": "feed", ".xml": "feed",
}
_LINE_BASED = {".jsonl", ".ndjson"}


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The files given, and the files under the folders given (sorted; hidden ones skipped)."""
    for path in paths:
        path = Path(path)
        if not path.is_dir():
            yield path  # a missing file is yielded too: load_file reports it as "unreadable"
            continue
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not name.startswith("."):
                    yield Path(root) / name


def _kind_of(path: Path) -> tuple[str, bool]:
    """The loader suffix (".gz" stripped) and whether the file is gzipped."""
    suffixes = [s.lower() for s in path.suffixes]
    gzipped = bool(suffixes) and suffixes[-1] == ".gz"
    if gzipped:
        suffixes = suffixes[:-1]
    return (suffixes[-1] if suffixes else ""), gzipped


def _gunzip(raw: bytes, max_bytes: int) -> tuple[bytes, str | None]:
    """Decompressed bytes (at most max_bytes + 1) and an error if the stream broke off.

    zlib rather than GzipFile: GzipFile drops the block it was decoding when the stream breaks,
    and we want every byte that came before the break.
    """
    out = bytearray()
    stream = zlib.decompressobj(31)  # 31: a gzip header and trailer
    pending = raw
    while pending:
        try:
            out += stream.decompress(pending, max_bytes + 1 - len(out))
        except zlib.error as exc:
            return bytes(out), f"corrupt gzip data: {exc}"
        if len(out) > max_bytes:
            return bytes(out), None
        if stream.unconsumed_tail:
            pending = stream.unconsumed_tail
        elif stream.eof and stream.unused_data.strip(b"\x00"):
            pending = stream.unused_data  # the next member of a multi-member gzip
            stream = zlib.decompressobj(31)
        else:
            pending = b""
    if not stream.eof:
        return bytes(out), "the gzip stream ends before its end marker"
    return bytes(out), None


def load_file(
    path: Path, *, mapping: dict[str, str] | None = None, max_bytes: int = 50_000_000
) -> Iterator[Article | Skip]:
    """Articles from one file, and a `Skip` for whatever in it could not be used; never raises."""
    check_mapping(mapping)  # a bad mapping is the caller's error, not the file's: it raises
    path = Path(path)
    origin = str(path)
    try:
        yield from _load(path, origin, mapping, max_bytes)
    except SkipInput as skip:
        yield Skip(origin, skip.reason, skip.detail)
    except OSError as exc:
        yield Skip(origin, "unreadable", f"{type(exc).__name__}: {exc}")
    except ImportError:
        raise  # a missing dependency is not the file's fault: let the install hint through
    except Exception as exc:  # noqa: BLE001 - one odd file must not stop a batch ingest
        yield Skip(origin, "unreadable", f"internal error: {type(exc).__name__}: {exc}")


def _load(
    path: Path, origin: str, mapping: dict[str, str] | None, max_bytes: int
) -> Iterator[Article | Skip]:
    suffix, gzipped = _kind_of(path)
    kind = SUFFIXES.get(suffix)
    if kind is None:
        expected = ", ".join(sorted(SUFFIXES))
        raise SkipInput("unsupported type", f"suffix {suffix or '(none)'!r}; expected {expected}")
    size = path.stat().st_size
    if size > max_bytes:
        raise SkipInput("too large", f"{size} bytes > max_bytes {max_bytes}")
    broken = None
    data = path.read_bytes()
    if gzipped and data:
        data, broken = _gunzip(data, max_bytes)
        if len(data) > max_bytes:
            raise SkipInput("too large", f"more than {max_bytes} bytes once decompressed")
        if broken and suffix not in _LINE_BASED:
            # A cut-off page or feed would give a silently truncated article: refuse it whole.
            raise SkipInput("truncated gzip", broken)
        if broken:
            # JSONL: keep the lines completed before the break; the partial last one is dropped.
            data = data[: data.rfind(b"\n") + 1]
    if not data.strip():
        if broken:
            raise SkipInput("truncated gzip", broken)
        raise SkipInput("empty", "no content" if not data else "only whitespace")
    text = decode_bytes(data)
    yield from _dispatch(kind, suffix, text, origin, mapping)
    if broken:
        yield Skip(origin, "truncated gzip", f"{broken}; records before the break were loaded")


def _dispatch(
    kind: str, suffix: str, text: str, origin: str, mapping: dict[str, str] | None
) -> Iterator[Article | Skip]:
    # Imported here so that a loader's heavy dependency (trafilatura) loads only when used.
    if kind == "html":
        from .html import load_html

        yield from load_html(text, origin)
    elif kind == "text":
        from .text import load_text

        yield from load_text(text, origin)
    elif kind == "records":
        from .records import load_records

        yield from load_records(text, origin, suffix=suffix, mapping=mapping)
    else:
        from .feeds import load_feed

        yield from load_feed(text, origin)
