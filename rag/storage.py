"""Storage errors that say what to do: a full disk, a read-only folder. Shared by the catalog
and the vector store, so that neither imports the other for its error text."""
from __future__ import annotations

import errno
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from rag.errors import StoreError


def read_only_folder(path: Path) -> bool:
    """The folder (or its nearest existing parent) is on a read-only mount or not writable."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY) or not os.access(path, os.W_OK)
    except OSError:
        return False


def free_bytes(folder: Path) -> int | None:
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        st = os.statvfs(path)
        return st.f_bavail * st.f_frsize
    except OSError:
        return None


def storage_error(what: str, folder: Path, exc: BaseException) -> StoreError:
    """A StoreError that says what failed and, for a full or read-only disk, what to do."""
    text = str(exc)
    low = text.lower()
    free = free_bytes(folder)
    # Chroma reports a full disk as a failed compaction: the free space tells
    if "full" in low or "no space" in low or getattr(exc, "errno", None) == errno.ENOSPC or (
            free is not None and free < 8 << 20):
        left = "" if free is None else f" ({free // 1024} KiB free)"
        hint = (f"The disk holding {folder} is full{left}: free some space and run the ingest "
                "again. What was stored before is kept; the interrupted batch is rolled back on "
                "the next run.")
    elif "readonly" in low or "read-only" in low or getattr(exc, "errno", None) == errno.EROFS:
        hint = (f"{folder} is read-only: ingest into a writable data folder (the index in this "
                "one can still be queried).")
    else:
        hint = "See the cause above; re-running the ingest rolls back a half-written batch."
    return StoreError(f"{what} failed: {text}. {hint}")


def redacted_url(url: str) -> str:
    """A database or server URL as messages may show it: no password, no query options (which
    may hold one)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:
        return "(an unparsable URL)"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit((parts.scheme, user + host, parts.path, "", ""))
