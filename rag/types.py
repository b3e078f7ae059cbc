"""Plain data that flows between stages: articles, chunks, passages, citations, answers."""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field, fields
from urllib.parse import urlsplit, urlunsplit


def sha1_hex(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def canonical_url(url: str | None) -> str | None:
    """Lower-case host, no fragment, no tracking query, no trailing slash."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    query = "&".join(
        q for q in parts.query.split("&") if q and not q.lower().startswith(("utm_", "fbclid", "gclid"))
    )
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, query, ""))


def source_from_url(url: str | None) -> str | None:
    """The site name from a URL host: https://www.example-news.com/x -> example-news.com."""
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return None
    host = re.sub(r"^(www\d?|m|edition|amp)\.", "", host.lower())
    return host or None


def normalize_text(text: str) -> str:
    """Unicode-normalised, whitespace-collapsed text: the basis of content hashes."""
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class Article:
    """A clean news article. `text` is what is chunked, stored and cited, verbatim."""

    id: str
    title: str
    text: str
    url: str | None = None
    source: str | None = None
    authors: tuple[str, ...] = ()
    published: str | None = None  # ISO 8601 date or datetime; None when unknown
    content_hash: str = ""
    origin: str = ""  # where it came from: a file path, with "#n" for the n-th record
    external_id: str | None = None  # an id the input gave (e.g. a dataset's doc_id)

    @staticmethod
    def create(
        *,
        title: str,
        text: str,
        url: str | None = None,
        source: str | None = None,
        authors: tuple[str, ...] | list[str] = (),
        published: str | None = None,
        origin: str = "",
        external_id: str | None = None,
    ) -> Article:
        """Build an article with its stable id (canonical URL, else content) and content hash."""
        title = normalize_text(title or "")
        text = text.strip()
        content_hash = sha1_hex(normalize_text(title) + "\n" + normalize_text(text))
        curl = canonical_url(url)
        key = f"url:{curl}" if curl else f"content:{content_hash}"
        return Article(
            id="a" + sha1_hex(key)[:15],
            title=title,
            text=text,
            url=url.strip() if url else None,
            source=(source or "").strip() or source_from_url(url),
            authors=tuple(a.strip() for a in authors if a and a.strip()),
            published=published or None,
            content_hash=content_hash,
            origin=origin,
            external_id=external_id,
        )


@dataclass(frozen=True)
class Skip:
    """An input that was not ingested, and why."""

    origin: str
    reason: str  # a short category: "empty", "binary", "no article", "malformed json", ...
    detail: str = ""


@dataclass(frozen=True)
class Chunk:
    """A token-sized slice of an article: text == article.text[start:end]."""

    id: str
    article_id: str
    position: int
    text: str
    start: int
    end: int
    title: str = ""
    source: str | None = None
    published: str | None = None
    url: str | None = None

    @staticmethod
    def make_id(article_id: str, position: int) -> str:
        return f"{article_id}-{position:04d}"


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its fused score and the scores that made it."""

    chunk: Chunk
    score: float
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Citation:
    """One numbered source of an answer, with the span of the passage that supports it."""

    number: int
    chunk_id: str
    article_id: str
    title: str
    source: str | None
    url: str | None
    published: str | None
    passage: str
    span_start: int  # offsets into the cleaned article text
    span_end: int
    support: float = 0.0
    chunk_start: int = 0  # where the passage starts in the article text

    @property
    def span_in_passage(self) -> tuple[int, int]:
        """The supporting span as offsets into `passage`."""
        return self.span_start - self.chunk_start, self.span_end - self.chunk_start

    @property
    def quote(self) -> str:
        return self.passage  # full passage text; the span marks the supporting sentence


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    citations: tuple[int, ...]
    support: float = 0.0
    supported: bool = True
    attached: bool = False  # the answerer gave no marker: the supporting passage was found
    # (citation number, start, end): where in each cited passage this sentence is supported
    spans: tuple[tuple[int, int, int], ...] = ()
    # why no cited passage supports it (which fact of it): set on an unsupported sentence
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    citations: tuple[Citation, ...] = ()
    sentences: tuple[AnswerSentence, ...] = ()
    passages: tuple[Passage, ...] = ()
    abstained: bool = False
    query: str = ""  # the standalone query actually searched
    as_of: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    # sentences the answerer wrote that the check withdrew, with its reasons
    withdrawn: tuple[AnswerSentence, ...] = ()


# A conversation's earlier turns: the edge accepts up to HISTORY_TURNS_ACCEPTED of them (more is
# a 422), and a question is read with the last HISTORY_TURNS_READ (`NewsRAG.query` cuts them once:
# the follow-up rewriter and the generative prompt see just those).
HISTORY_TURNS_ACCEPTED = 20
HISTORY_TURNS_READ = 3


def citation_to_dict(c: Citation) -> dict:
    """A citation's JSON shape: every field of `Citation`, the support rounded. The API's
    schema (`ui.server.CitationOut`) is held to these fields by a test."""
    return {f.name: getattr(c, f.name) for f in fields(Citation)} | {"support": round(c.support, 3)}


def answer_to_dict(a: Answer, with_passages: bool = False) -> dict:
    """The JSON shape of an answer, shared by the CLI (--json) and the HTTP API."""
    out = {
        "question": a.question,
        "answer": a.text,
        "abstained": a.abstained,
        "citations": [citation_to_dict(c) for c in a.citations],
        "sentences": [
            {"text": s.text, "citations": list(s.citations), "support": round(s.support, 3),
             "supported": s.supported, "attached": s.attached,
             "spans": [{"citation": n, "start": a, "end": b} for n, a, b in s.spans],
             "reasons": list(s.reasons)}
            for s in a.sentences
        ],
        "withdrawn": [{"text": s.text, "reasons": list(s.reasons)} for s in a.withdrawn],
        "query": a.query,
        "as_of": a.as_of,
        "timings_ms": {k: round(v * 1000, 1) for k, v in a.timings.items()},
    }
    if with_passages:
        out["passages"] = [
            {"chunk_id": p.chunk.id, "article_id": p.chunk.article_id, "title": p.chunk.title,
             "source": p.chunk.source, "published": p.chunk.published, "score": round(p.score, 5),
             "text": p.chunk.text}
            for p in a.passages
        ]
    return out
