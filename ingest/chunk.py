"""Token-sized chunks at sentence boundaries, with overlap, that the embedder never truncates."""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence

from rag.index import embedding_text
from rag.text import sentence_spans
from rag.tokens import get_encoding
from rag.types import Article, Chunk

_WS = re.compile(r"\S+")
log = logging.getLogger("newsrag.ingest.chunk")


class Chunker:
    def __init__(self, max_tokens: int = 180, overlap: int = 30, encoding: str = "cl100k_base"):
        if max_tokens < 16 or not 0 <= overlap < max_tokens // 2:
            raise ValueError(
                f"chunk size {max_tokens} / overlap {overlap}: expected size >= 16 and "
                "0 <= overlap < size/2"
            )
        self.max_tokens = max_tokens
        self.overlap = overlap
        self.enc = get_encoding(encoding)

    def spans(self, text: str, max_tokens: int | None = None) -> list[tuple[int, int]]:
        """Chunk (start, end) offsets: whole sentences packed up to max_tokens, overlapping."""
        limit = max_tokens or self.max_tokens
        units = self._units(text, limit)
        if not units:
            return []
        sizes = [n for _, _, n in units]
        out: list[tuple[int, int]] = []
        i = 0
        while i < len(units):
            j, total = i, 0
            while j < len(units) and (j == i or total + sizes[j] <= limit):
                total += sizes[j]
                j += 1
            out.append((units[i][0], units[j - 1][1]))
            if j >= len(units):
                break
            # step back over trailing sentences worth at most `overlap` tokens
            k, back = j, 0
            while k - 1 > i and back + sizes[k - 1] <= self.overlap:
                k -= 1
                back += sizes[k]
            i = k
        return out

    def _units(self, text: str, limit: int) -> list[tuple[int, int, int]]:
        """Sentences with token counts; a sentence over the limit is cut into word windows."""
        spans = sentence_spans(text)
        counts = [len(t) for t in self.enc.encode_ordinary_batch([text[a:b] for a, b in spans])]
        units: list[tuple[int, int, int]] = []
        for (a, b), n in zip(spans, counts):
            if n <= limit:
                units.append((a, b, n))
            else:
                units.extend(self._windows(text, a, b, limit))
        return units

    def _windows(self, text: str, a: int, b: int, limit: int) -> list[tuple[int, int, int]]:
        words = [(m.start() + a, m.end() + a) for m in _WS.finditer(text[a:b])]
        out: list[tuple[int, int, int]] = []
        s = 0
        while s < len(words):
            lo, hi = s + 1, len(words)
            while lo < hi:  # the largest run of words that fits
                mid = (lo + hi + 1) // 2
                if len(self.enc.encode_ordinary(text[words[s][0] : words[mid - 1][1]])) <= limit:
                    lo = mid
                else:
                    hi = mid - 1
            piece = text[words[s][0] : words[lo - 1][1]]
            out.append((words[s][0], words[lo - 1][1], len(self.enc.encode_ordinary(piece))))
            s = lo
        return out

    def chunk(self, article: Article, max_tokens: int | None = None) -> list[Chunk]:
        return [
            Chunk(
                id=Chunk.make_id(article.id, pos),
                article_id=article.id,
                position=pos,
                text=article.text[a:b],
                start=a,
                end=b,
                title=article.title,
                source=article.source,
                published=article.published,
                url=article.url,
            )
            for pos, (a, b) in enumerate(self.spans(article.text, max_tokens))
        ]


def fit_chunks(
    chunker: Chunker,
    article: Article,
    count_tokens: Callable[[Sequence[str]], list[int]],
    model_max_tokens: int,
) -> list[Chunk]:
    """Chunk, then shrink the budget until no embedded text exceeds the model's input limit."""
    budget = chunker.max_tokens
    while True:
        chunks = chunker.chunk(article, budget)
        if not chunks:
            return []
        sizes = count_tokens([embedding_text(c) for c in chunks])
        if max(sizes) <= model_max_tokens or budget <= 16:
            return chunks
        over = max(sizes) / model_max_tokens
        shrunk = max(16, int(budget / over) - 4)
        # the embedder would truncate: said here, not by the tokenizer (see count_tokens)
        log.debug("%r: a chunk is %d word pieces, over the embedder's %d: budget %d -> %d tokens",
                  article.title[:60], max(sizes), model_max_tokens, budget, shrunk)
        budget = shrunk
