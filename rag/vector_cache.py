"""Sentence vectors remembered between questions: the answerer compares the sentences of the top
passages with the question, and popular stories bring the same passages back again and again."""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np


class VectorCache:
    """`embed` with a bounded least-recently-used memory of the texts it has embedded; only the
    texts it has not seen go to the model, in one batch. Safe to share between threads."""

    def __init__(self, embed: Callable[[Sequence[str]], np.ndarray], size: int = 20_000):
        if size < 1:
            raise ValueError(f"cache size must be at least 1, not {size}")
        self.embed, self.size = embed, size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            found = {t: self._vectors[t] for t in texts if t in self._vectors}
            for t in found:
                self._vectors.move_to_end(t)
        todo = list(dict.fromkeys(t for t in texts if t not in found))
        if todo:
            fresh = np.asarray(self.embed(todo))
            if fresh.shape[0] != len(todo):
                raise ValueError(f"the embedder returned {fresh.shape[0]} vectors for "
                                 f"{len(todo)} texts")
            with self._lock:
                for t, v in zip(todo, fresh):
                    v = v.copy()
                    v.setflags(write=False)
                    self._vectors[t] = found[t] = v
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        self.hits += len(texts) - len(todo)
        self.misses += len(todo)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[t] for t in texts])

    def forget(self, texts: Sequence[str]) -> None:
        """Drop these texts (a benchmark times each question as if asked for the first time)."""
        with self._lock:
            for t in texts:
                self._vectors.pop(t, None)

    def __len__(self) -> int:
        return len(self._vectors)
