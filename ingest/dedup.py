"""Exact and near-duplicate detection: MinHash signatures over word shingles, LSH bands."""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from rag.text import words

NUM_PERM = 128
BANDS = 32  # 32 bands x 4 rows: pairs above ~0.5 Jaccard become candidates
ROWS = NUM_PERM // BANDS
SHINGLE = 5
_rng = np.random.default_rng(20261127)  # fixed: signatures must be stable across runs
# multiply-shift hashing: (a*x + b) mod 2^64, top 32 bits; a odd. Universal for 32-bit x.
_A = _rng.integers(0, 1 << 63, size=NUM_PERM, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_B = _rng.integers(0, 1 << 63, size=NUM_PERM, dtype=np.uint64)


@dataclass(frozen=True)
class Signature:
    values: np.ndarray  # NUM_PERM uint64 minima

    def bands(self) -> list[tuple[int, int]]:
        """(band number, bucket hash) for the LSH table."""
        return [
            (b, zlib.crc32(self.values[b * ROWS : (b + 1) * ROWS].tobytes()))
            for b in range(BANDS)
        ]

    def similarity(self, other: Signature) -> float:
        """Estimated Jaccard similarity of the two shingle sets."""
        return float(np.mean(self.values == other.values))


def shingles(text: str) -> np.ndarray:
    toks = words(text)
    if len(toks) < SHINGLE:
        grams = [" ".join(toks)] if toks else [""]
    else:
        grams = [" ".join(toks[i : i + SHINGLE]) for i in range(len(toks) - SHINGLE + 1)]
    return np.unique(np.array([zlib.crc32(g.encode("utf-8")) for g in grams], dtype=np.uint64))


def signature(text: str) -> Signature:
    hashed = shingles(text)
    with np.errstate(over="ignore"):  # wrapping modulo 2^64 is the point
        table = (np.outer(_A, hashed) + _B[:, None]) >> np.uint64(32)
    return Signature(table.min(axis=1))


def signature_from_bytes(blob: bytes) -> Signature:
    return Signature(np.frombuffer(blob, dtype=np.uint64).copy())
