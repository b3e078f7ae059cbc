"""Vector files: what an embedder made once, reused by any index built with the same embedder.

The format, so that others can make and read them: a numpy `.npz` holding
- `keys`: uint8, shape (N, 32); row i is sha256((model + "\\n" + embedded_text).encode()).digest()
- `vectors`: float32, shape (N, dimension); row i is the vector of `keys[i]`
- `model`: the embedder's name (e.g. "all-MiniLM-L6-v2")
The embedded text is exactly what `rag.index.embedding_text` gives the embedder (headline and
passage), so a match is exact: same embedder, same text, same vector.

A file written uncompressed (as `write_vector_file` does) is memory-mapped: only the rows a
lookup finds are read, whatever the file's size.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from rag.errors import ConfigError

KEY_BYTES = 32


def vector_key(model: str, text: str) -> bytes:
    """The key of one embedded text under one embedder."""
    return hashlib.sha256((model + "\n" + text).encode("utf-8")).digest()


class VectorFileError(ConfigError):
    """A vector file that cannot be used: unreadable, malformed, or of another embedder."""


class VectorFile:
    """One vector file, opened for lookups: keys sorted in memory, vectors read on demand."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            with np.load(self.path, allow_pickle=False) as z:
                missing = {"keys", "vectors", "model"} - set(z.files)
                if missing:
                    raise VectorFileError(f"Vector file {self.path} lacks {sorted(missing)}: "
                                          "expected keys, vectors and model (rag/vector_files.py)")
                keys = z["keys"]
                self.model = str(z["model"])
        except FileNotFoundError:
            raise VectorFileError(f"No such vector file: {self.path}") from None
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise VectorFileError(f"Vector file {self.path} cannot be read as an .npz: {e}") from None
        if keys.dtype != np.uint8 or keys.ndim != 2 or keys.shape[1] != KEY_BYTES:
            raise VectorFileError(f"Vector file {self.path}: keys must be uint8 of shape "
                                  f"(N, 32), not {keys.dtype} {keys.shape}")
        self._vectors = _open_member(self.path, "vectors")
        if self._vectors.ndim != 2 or len(self._vectors) != len(keys):
            raise VectorFileError(f"Vector file {self.path}: vectors must be of shape "
                                  f"({len(keys)}, dimension), not {self._vectors.shape}")
        self.dimension = int(self._vectors.shape[1])
        flat = np.ascontiguousarray(keys).view(f"S{KEY_BYTES}").ravel()
        self._order = np.argsort(flat, kind="stable")
        self._sorted = flat[self._order]

    def __len__(self) -> int:
        return len(self._sorted)

    def rows(self, keys: Sequence[bytes]) -> np.ndarray:
        """The row of each key in the file, -1 where the file does not hold it."""
        if not keys or not len(self._sorted):
            return np.full(len(keys), -1, dtype=np.int64)
        want = np.array(keys, dtype=f"S{KEY_BYTES}")
        at = np.searchsorted(self._sorted, want).clip(0, len(self._sorted) - 1)
        found = self._sorted[at] == want
        return np.where(found, self._order[at], -1)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        order = np.argsort(rows)  # sequential reads from a mapped file
        out = np.empty((len(rows), self.dimension), dtype=np.float32)
        out[order] = np.asarray(self._vectors[rows[order]], dtype=np.float32)
        return out


class VectorLibrary:
    """Several vector files checked against one embedder: `find` answers from any of them."""

    def __init__(self, paths: Iterable[str | Path], model: str, dimension: int):
        self.model, self.dimension = model, dimension
        self.files: list[VectorFile] = []
        for path in paths:
            f = VectorFile(path)
            if f.model != model or f.dimension != dimension:
                raise VectorFileError(
                    f"Vector file {f.path} holds {f.model!r} vectors of dimension {f.dimension}, "
                    f"but the index embeds with {model!r} ({dimension}). Give a vector file of "
                    "the same embedder, or none (NEWSRAG_VECTOR_FILES, --vectors).")
            self.files.append(f)

    def find(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(vectors, found): a row per text, `found[i]` when a file held text i (its row of
        `vectors` is then that file's vector; the others are zeros)."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        found = np.zeros(len(texts), dtype=bool)
        keys = [vector_key(self.model, t) for t in texts]
        for f in self.files:
            todo = np.flatnonzero(~found)
            if not len(todo):
                break
            rows = f.rows([keys[i] for i in todo])
            hit = rows >= 0
            if hit.any():
                out[todo[hit]] = f.vectors(rows[hit])
                found[todo[hit]] = True
        return out, found


def write_vector_file(path: str | Path, model: str, keys: np.ndarray, vectors: np.ndarray) -> None:
    """Write a vector file (uncompressed, so that readers can map it), atomically."""
    keys = np.asarray(keys, dtype=np.uint8)
    vectors = np.asarray(vectors, dtype=np.float32)
    if keys.ndim != 2 or keys.shape[1] != KEY_BYTES or len(keys) != len(vectors):
        raise ValueError(f"keys {keys.shape} and vectors {vectors.shape} do not match")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, keys=keys, vectors=vectors, model=np.array(model))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _open_member(path: Path, name: str) -> np.ndarray:
    """An .npz member as an array: memory-mapped when stored uncompressed, else read whole."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name + ".npy")
        if info.compress_type == zipfile.ZIP_STORED:
            with open(path, "rb") as fh:
                fh.seek(info.header_offset)
                local = fh.read(30)
                name_len = int.from_bytes(local[26:28], "little")
                extra_len = int.from_bytes(local[28:30], "little")
                fh.seek(info.header_offset + 30 + name_len + extra_len)
                version = np.lib.format.read_magic(fh)
                read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                               (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                if read_header is not None:
                    shape, fortran, dtype = read_header(fh)
                    if not fortran and not dtype.hasobject:
                        return np.memmap(path, dtype=dtype, mode="r", offset=fh.tell(),
                                         shape=shape)
        with zf.open(info) as member:
            return np.lib.format.read_array(member, allow_pickle=False)
