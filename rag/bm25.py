"""BM25 in memory: numpy postings over the catalog's chunks, kept in step with its commits.

The catalog's FTS5 table stays the durable, transactional lexical index. But FTS5 ranks an OR
query by scoring every row that holds any of its words: 60 ms at 100k chunks and 555 ms at 1M
(docs/performance.md). Here the postings of each word are numpy arrays (chunk numbers and term
counts), so a question costs one vectorised add per word and a partial sort. The postings are
built once from the chunks' text, saved beside the catalog, and follow the catalog: chunks
committed since (rowids are never reused, see `Catalog.commit_articles`) are added to a small
tail segment, removed chunks are masked, and the tail is merged when big.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.filters import Filters
from rag.protocols import Catalog
from rag.text import STOPWORDS, stem

K1, B = 1.2, 0.75
FORMAT = 3
SAVE_EVERY = 5000  # chunks read from the catalog since the last save: save the tail again
_TOKEN = re.compile(r"[\w][\w'’\-.]*[\w]|[\w]", re.UNICODE)


def terms_of(text: str) -> Counter[str]:
    """Stemmed content words and their counts: the same words the answerer weighs."""
    out: Counter[str] = Counter()
    for w, n in Counter(_TOKEN.findall(text.lower())).items():
        t = _term(w)
        if t:
            out[t] += n
    return out


_TERM_CACHE: dict[str, str] = {}


def _term(word: str) -> str:
    t = _TERM_CACHE.get(word)
    if t is None:
        w = word.strip(".")
        t = "" if w in STOPWORDS or (len(w) < 2 and not w.isdigit()) else stem(w)
        if len(_TERM_CACHE) < 2_000_000:
            _TERM_CACHE[word] = t
    return t


@dataclass
class Segment:
    """Postings of some chunks, grouped by term: the docs of term terms[i] are
    docs[offsets[i]:offsets[i + 1]], with the term's count in each in tf."""

    terms: np.ndarray  # int32, sorted
    offsets: np.ndarray  # int64, len(terms) + 1
    docs: np.ndarray  # int32 doc numbers
    tf: np.ndarray  # uint16 counts (half the memory of float32 at a million chunks)

    @classmethod
    def empty(cls) -> Segment:
        return cls(np.zeros(0, np.int32), np.zeros(1, np.int64), np.zeros(0, np.int32),
                   np.zeros(0, np.uint16))

    @classmethod
    def build(cls, term_ids: np.ndarray, docs: np.ndarray, tf: np.ndarray) -> Segment:
        order = np.argsort(term_ids, kind="stable")
        t = term_ids[order]
        terms, starts = np.unique(t, return_index=True)
        offsets = np.append(starts, len(t)).astype(np.int64)
        return cls(terms.astype(np.int32), offsets, docs[order].astype(np.int32),
                   np.minimum(tf[order], 65535).astype(np.uint16))

    def postings(self, term_id: int) -> tuple[np.ndarray, np.ndarray] | None:
        i = int(np.searchsorted(self.terms, term_id))
        if i >= len(self.terms) or self.terms[i] != term_id:
            return None
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.docs[a:b], self.tf[a:b]

    def __len__(self) -> int:
        return len(self.docs)


class _Docs:
    """Per-chunk columns, growing: catalog rowid, day (YYYYMMDD, 0 unknown), source, length
    in terms, alive."""

    def __init__(self) -> None:
        self.n = 0
        self.rowid = np.zeros(1024, np.int64)
        self.day = np.zeros(1024, np.int32)
        self.source = np.zeros(1024, np.int32)
        self.length = np.zeros(1024, np.float32)
        self.alive = np.zeros(1024, bool)

    def append(self, rowids, days, sources, lengths) -> np.ndarray:
        k = len(rowids)
        need = self.n + k
        if need > len(self.rowid):
            cap = max(need, 2 * len(self.rowid))
            for name in ("rowid", "day", "source", "length", "alive"):
                old = getattr(self, name)
                new = np.zeros(cap, old.dtype)
                new[: self.n] = old[: self.n]
                setattr(self, name, new)
        sl = slice(self.n, need)
        self.rowid[sl], self.day[sl], self.source[sl] = rowids, days, sources
        self.length[sl], self.alive[sl] = lengths, True
        numbers = np.arange(self.n, need, dtype=np.int32)
        self.n = need
        return numbers


class MemoryBM25:
    """BM25 over every chunk in the catalog, held in memory; `search` refreshes when it changed."""

    def __init__(self, catalog: Catalog, cache_dir: Path | None = None,
                 merge_postings: int = 5_000_000):
        self.catalog = catalog
        self.cache_dir = cache_dir
        self.merge_postings = merge_postings  # a tail this big (or a quarter of main) is merged
        self.lock = threading.RLock()
        self.vocab: dict[str, int] = {}
        self.sources: dict[str, int] = {"": 0}
        self.docs = _Docs()
        self.main = Segment.empty()
        self.tail = Segment.empty()
        self._tail_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.hwm = 0  # the highest catalog rowid seen
        self.alive_count = 0
        self.total_len = 0.0
        self._seen_version: tuple | None = None
        self._saved: dict = {}
        self._unsaved = 0  # chunks added since the last save
        self._shares: dict[tuple, float] = {}  # share() by filters and catalog version
        self._main_dirty = True
        self.timings: dict[str, float] = {}
        self._load() or self._build()

    # --- building ---------------------------------------------------------------------------
    def _rows(self, after: int) -> Iterable[list[tuple]]:
        return self.catalog.chunk_rows_after(after)

    def _add_rows(self, rows: list[tuple]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Tokenize chunks and register them: their postings (term, doc, raw tf), lengths."""
        terms, docs, tfs = [], [], []
        days, srcs, lens = [], [], []
        for rowid, text, title, source, day in rows:
            bag = terms_of(text)
            bag.update(terms_of(title or ""))
            lens.append(sum(bag.values()))
            days.append(day or 0)
            srcs.append(self.sources.setdefault(source or "", len(self.sources)))
            for t, n in bag.items():
                terms.append(self.vocab.setdefault(t, len(self.vocab)))
                tfs.append(n)
            docs.append(len(bag))
        numbers = self.docs.append([r[0] for r in rows], days, srcs, lens)
        self.hwm = max(self.hwm, rows[-1][0])
        self.alive_count += len(rows)
        self.total_len += float(sum(lens))
        return (np.asarray(terms, np.int32), np.repeat(numbers, docs),
                np.asarray(tfs, np.float32))

    def _build(self) -> None:
        t0 = time.perf_counter()
        with self.lock:
            self._seen_version = self._version()
            parts = [self._add_rows(rows) for rows in self._rows(0)]
            self.main = self._segment(parts)
            self.tail, self._tail_parts = Segment.empty(), []
            self._main_dirty = True
        self.timings["build"] = time.perf_counter() - t0
        self.save()

    @staticmethod
    def _segment(parts: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Segment:
        if not parts:
            return Segment.empty()
        return Segment.build(*(np.concatenate([p[i] for p in parts]) for i in range(3)))

    # --- following the catalog --------------------------------------------------------------
    def _version(self) -> tuple:
        """Changes when anything commits to the catalog, in this connection or another."""
        return self.catalog.version()

    def refresh(self) -> bool:
        """Catch up with the catalog; True if anything changed."""
        version = self._version()
        if version == self._seen_version:
            return False
        with self.lock:
            if version == self._seen_version:
                return False
            self._seen_version = version
            before = self.docs.n
            new = [self._add_rows(rows) for rows in self._rows(self.hwm)]
            self._drop_removed()
            if new:
                self._tail_parts.extend(new)
                self.tail = self._segment(self._tail_parts)
                self._unsaved += self.docs.n - before
                if len(self.tail) > max(self.merge_postings, len(self.main) // 4):
                    self._merge()
                elif self._unsaved >= SAVE_EVERY:
                    self.save()
        return True

    def _drop_removed(self) -> None:
        count = self.catalog.chunk_count()
        if count == self.alive_count:
            return
        present = np.asarray(self.catalog.chunk_rowids(), np.int64)
        n = self.docs.n
        gone = self.docs.alive[:n] & ~np.isin(self.docs.rowid[:n], present)
        self.docs.alive[:n] &= ~gone
        self.alive_count = int(self.docs.alive[:n].sum())
        self.total_len -= float(self.docs.length[:n][gone].sum())

    def _merge(self) -> None:
        joined = [(self._terms_of(s), s.docs, s.tf) for s in (self.main, self.tail)]
        self.main = Segment.build(*(np.concatenate([p[i] for p in joined]) for i in range(3)))
        self.tail, self._tail_parts = Segment.empty(), []
        self._main_dirty = True
        self.save()

    @staticmethod
    def _terms_of(seg: Segment) -> np.ndarray:
        return np.repeat(seg.terms, np.diff(seg.offsets))

    # --- searching --------------------------------------------------------------------------
    def df(self, term: str) -> int:
        """Chunks (alive) holding the term."""
        tid = self.vocab.get(term)
        if tid is None:
            return 0
        return sum(int(self.docs.alive[got[0]].sum()) for got in self._postings(tid))

    def _postings(self, tid: int) -> list[tuple[np.ndarray, np.ndarray]]:
        return [got for seg in (self.main, self.tail) if (got := seg.postings(tid)) is not None]

    def doc_freq(self, words: Sequence[str]) -> dict[str, int]:
        """Chunks holding each word (stemmed as indexed): for the answerer's word weights."""
        self.refresh()
        return {w: self.df(_term(w.lower()) or w.lower()) for w in words}

    def search(self, text: str, n: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) of the n best chunks, best first."""
        return self.rankings(text, n, [filters or Filters()])[0]

    def rankings(self, text: str, n: int, filter_sets: Sequence[Filters]
                 ) -> list[list[tuple[str, float]]]:
        """The n best chunks under each set of filters, from one scoring of the question."""
        self.refresh()
        with self.lock:
            scores, cand = self._score(text)
            found = [self._top(scores, cand, n, f) for f in filter_sets]
        rowids = sorted({r for f in found for r, _ in f})
        ids = self.catalog.chunk_ids_by_rowid(rowids) if rowids else {}
        return [[(ids[r], s) for r, s in f if r in ids] for f in found]

    def _score(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """BM25 of every chunk holding a question word, and those chunks' numbers (alive)."""
        qterms = [self.vocab[t] for t in terms_of(text) if t in self.vocab]
        if not qterms or self.alive_count == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        scores = np.zeros(self.docs.n, np.float32)
        alive, length = self.docs.alive, self.docs.length
        avgdl = max(self.total_len / self.alive_count, 1.0)
        for tid in qterms:
            postings = self._postings(tid)
            df = sum(int(alive[docs].sum()) for docs, _ in postings)
            idf = np.log(1 + (self.alive_count - df + 0.5) / (df + 0.5))
            for docs, counts in postings:
                tf = counts.astype(np.float32)
                norm = (K1 * (1 - B)) + (K1 * B / avgdl) * length[docs]
                scores[docs] += np.float32(idf * (K1 + 1)) * tf / (tf + norm)  # docs distinct
        cand = np.flatnonzero(scores)
        return scores, cand[alive[cand]]

    def _top(self, scores: np.ndarray, cand: np.ndarray, n: int, filters: Filters
             ) -> list[tuple[int, float]]:
        if not filters.is_empty():
            cand = cand[self._mask(cand, filters)]
        if len(cand) == 0:
            return []
        if len(cand) > n:
            cand = cand[np.argpartition(-scores[cand], n - 1)[:n]]
        cand = cand[np.lexsort((cand, -scores[cand]))]  # ties: the older chunk first
        return [(int(self.docs.rowid[d]), float(scores[d])) for d in cand]

    def _mask(self, docs: np.ndarray, f: Filters) -> np.ndarray:
        ok = np.ones(len(docs), bool)
        if f.sources:
            codes = [self.sources[s] for s in f.sources if s in self.sources]
            ok &= np.isin(self.docs.source[docs], codes)
        if f.since_day is not None:
            ok &= self.docs.day[docs] >= f.since_day
        if f.until_day is not None:
            day = self.docs.day[docs]
            ok &= (day > 0) & (day <= f.until_day)
        return ok

    def passing(self, chunk_ids: Sequence[str], filters: Filters) -> list[bool]:
        """Which of these chunks pass the filters (by the dates and outlets held here)."""
        if not chunk_ids:
            return []
        self.refresh()
        rowids = self.catalog.rowids_by_chunk_id(chunk_ids)
        with self.lock:
            n = self.docs.n
            if n == 0:
                return [False] * len(chunk_ids)
            # doc numbers follow rowids in order: a chunk unknown here (-1) matches no doc
            known = np.array([rowids.get(c, -1) for c in chunk_ids], np.int64)
            docs = np.minimum(np.searchsorted(self.docs.rowid[:n], known), n - 1)
            ok = (self.docs.rowid[docs] == known) & self.docs.alive[docs]
            ok &= self._mask(docs, filters)
        return ok.tolist()

    def share(self, filters: Filters) -> float:
        """The fraction of the chunks that pass the filters (to pick a dense search strategy)."""
        self.refresh()
        with self.lock:
            key = (filters, self._seen_version)
            if key not in self._shares:
                n = self.docs.n
                ok = self.docs.alive[:n] & self._mask(np.arange(n), filters)
                if len(self._shares) > 256:
                    self._shares.clear()
                self._shares[key] = float(ok.sum()) / max(self.alive_count, 1)
            return self._shares[key]

    # --- saving beside the catalog ----------------------------------------------------------
    def save(self) -> None:
        """Write the postings beside the catalog, so that the next process loads, not builds.

        The big main segment is written only when it changed; the tail and the per-chunk
        columns each time. bm25.json names the files and is replaced last: a crash leaves the
        previous set in use. A cache: a full or read-only disk costs a rebuild, nothing more."""
        if self.cache_dir is None or self.catalog.readonly:
            return
        self.refresh()
        d = self.cache_dir
        with self.lock:
            try:
                d.mkdir(parents=True, exist_ok=True)
                main = None if self._main_dirty else self._saved.get("main")
                if main is None:
                    main = f"main-{uuid.uuid4().hex}.npz"
                    seg = self.main
                    np.savez(d / main, terms=seg.terms, offsets=seg.offsets, docs=seg.docs,
                             tf=seg.tf)
                tail = f"tail-{uuid.uuid4().hex}.npz"
                n, parts = self.docs.n, self._tail_parts or [(np.zeros(0, np.int32),) * 3]
                np.savez(d / tail, **{k: np.concatenate([p[i] for p in parts])
                                      for i, k in enumerate(("terms", "docs", "tf"))},
                         rowid=self.docs.rowid[:n], day=self.docs.day[:n],
                         source=self.docs.source[:n], length=self.docs.length[:n],
                         alive=self.docs.alive[:n])
                info = {"format": FORMAT, "catalog": self.catalog.uid(), "hwm": self.hwm,
                        "main": main, "tail": tail, "vocab": list(self.vocab),
                        "sources": list(self.sources)}
                tmp = d / f".{uuid.uuid4().hex}.json"
                tmp.write_text(json.dumps(info), "utf-8")
                os.replace(tmp, d / "bm25.json")
                self._saved, self._main_dirty, self._unsaved = info, False, 0
                self._remove_stale(keep={main, tail})
            except OSError:
                pass

    def _remove_stale(self, keep: set[str]) -> None:
        """Files of earlier saves; a minute's grace for another process still loading them."""
        now = time.time()
        for f in self.cache_dir.glob("*.npz"):
            if f.name not in keep and now - f.stat().st_mtime > 60:
                f.unlink(missing_ok=True)

    def _load(self) -> bool:
        """The saved postings, if they are this catalog's and whole; else False (rebuild)."""
        if self.cache_dir is None or not (self.cache_dir / "bm25.json").exists():
            return False
        t0 = time.perf_counter()
        try:
            info = json.loads((self.cache_dir / "bm25.json").read_text("utf-8"))
            if info.get("format") != FORMAT or info.get("catalog") != self.catalog.uid():
                return False
            with np.load(self.cache_dir / info["main"]) as z:
                main = Segment(z["terms"], z["offsets"], z["docs"], z["tf"])
            with np.load(self.cache_dir / info["tail"]) as z:
                tail = {k: z[k] for k in z.files}
            vocab = {str(t): i for i, t in enumerate(info["vocab"])}
            sources = {str(s): i for i, s in enumerate(info["sources"])}
            hwm = int(info["hwm"])
            n = len(tail["rowid"])
            if not _consistent(main, tail, n, len(vocab), len(sources)):
                return False
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return False
        with self.lock:
            self.main, self.vocab, self.sources, self.hwm = main, vocab, sources, hwm
            alive = tail["alive"].astype(bool)
            self.docs.append(tail["rowid"], tail["day"], tail["source"], tail["length"])
            self.docs.alive[:n] = alive
            if len(tail["terms"]):
                self._tail_parts = [(tail["terms"], tail["docs"], tail["tf"])]
                self.tail = self._segment(self._tail_parts)
            self.total_len = float(tail["length"][alive].sum())
            self.alive_count = int(alive.sum())
            self._saved = info
            self._seen_version = None  # catch up with what was committed since it was saved
        self.refresh()
        self.timings["load"] = time.perf_counter() - t0
        return True


def _consistent(main: Segment, tail: dict, n: int, n_terms: int, n_sources: int) -> bool:
    """Saved arrays that fit together: every posting names a known doc and term."""
    columns = ("day", "source", "length", "alive")
    if any(len(tail[c]) != n for c in columns) or len(main.offsets) != len(main.terms) + 1:
        return False
    if int(main.offsets[-1]) != len(main.docs) or len(main.docs) != len(main.tf):
        return False
    for docs, terms in ((main.docs, main.terms), (tail["docs"], tail["terms"])):
        if len(docs) and (docs.min() < 0 or docs.max() >= n):
            return False
        if len(terms) and (terms.min() < 0 or terms.max() >= n_terms):
            return False
    if n and (np.any(np.diff(tail["rowid"]) <= 0) or tail["source"].max() >= n_sources):
        return False
    return len(tail["terms"]) == len(tail["docs"]) == len(tail["tf"])
