"""Evaluation datasets: the generic JSONL format, RealTime QA and MultiHop-RAG, and their indexes."""
from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import NewsragError
from rag.settings import Settings
from rag.types import canonical_url, sha1_hex

# the settings that change what an index holds: a change means another eval index
INDEX_SETTINGS = ("embedder", "embedder_model", "chunk_tokens", "chunk_overlap", "encoding")
_QUOTES = "\"'“”‘’«»„‟`"


class DatasetError(NewsragError):
    """A question file cannot be read as the dataset format it was given as."""


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    answers: tuple[str, ...] = ()
    gold_doc_ids: tuple[str, ...] = ()  # corpus record ids, URLs, or newsrag article ids
    gold_titles: tuple[str, ...] = ()  # exact headlines, when the corpus has no ids
    gold_evidence: tuple[str, ...] = ()  # sentences ("facts") a relevant passage contains
    as_of: str | None = None  # YYYY-MM-DD
    choices: tuple[str, ...] = ()
    answer_index: tuple[int, ...] = ()
    kind: str = ""
    unanswerable: bool = False  # the right behaviour is to abstain (MultiHop null queries)
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def has_doc_gold(self) -> bool:
        return bool(self.gold_doc_ids or self.gold_titles)


@dataclass(frozen=True)
class Dataset:
    name: str
    questions: tuple[EvalQuestion, ...]
    corpus: Path | None = None
    notes: str = ""

    def limit(self, n: int | None) -> Dataset:
        if not n:
            return self
        return Dataset(self.name, self.questions[:n], self.corpus, self.notes)


# ---------------------------------------------------------------- reading

def strip_quotes(text: str) -> str:
    """'“Squid Game”' -> 'Squid Game': the quiz wraps titles in quotes the answer need not repeat."""
    return text.strip().strip(_QUOTES).strip()


def iso_day(value: Any) -> str | None:
    """'2022/06/16', '20220616' or '2022-06-16T10:00Z' -> '2022-06-16'."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    m = re.match(r"^(\d{4})[-/]?(\d{2})[-/]?(\d{2})", text)
    if not m:
        raise DatasetError(f"Cannot read the date {value!r}: expected YYYY-MM-DD or YYYY/MM/DD")
    return "-".join(m.groups())


def _read_jsonl(path: Path) -> Iterable[tuple[int, dict]]:
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"No such question file: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as e:
                raise DatasetError(f"{path} line {n}: not JSON ({e})") from None
            if not isinstance(record, dict):
                raise DatasetError(f"{path} line {n}: expected an object, got {type(record).__name__}")
            yield n, record


def _strings(value: Any, where: str, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, int, float)):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise DatasetError(f"{where}: {name!r} must be a list of strings, got {value!r}")
    return tuple(str(v).strip() for v in value if str(v).strip())


def _indices(value: Any, n_choices: int, where: str) -> tuple[int, ...]:
    if value is None:
        return ()
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise DatasetError(f"{where}: 'answer_index' must be an integer or a list of integers")
    bad = [v for v in values if not 0 <= v < n_choices]
    if bad:
        raise DatasetError(f"{where}: answer_index {bad} outside the {n_choices} choices")
    return tuple(values)


GENERIC_FIELDS = {"id", "question", "answers", "gold_doc_ids", "gold_titles", "gold_evidence",
                  "as_of", "choices", "answer_index", "kind", "unanswerable"}


def load_jsonl(questions: Path, corpus: Path | None = None) -> Dataset:
    """The generic format (docs/eval/README.md): one question object a line."""
    out = []
    for n, r in _read_jsonl(questions):
        where = f"{questions} line {n}"
        question = r.get("question")
        if not isinstance(question, str) or not question.strip():
            raise DatasetError(f"{where}: 'question' must be a non-empty string")
        choices = _strings(r.get("choices"), where, "choices")
        index = _indices(r.get("answer_index"), len(choices), where)
        if index and not choices:
            raise DatasetError(f"{where}: 'answer_index' given without 'choices'")
        answers = _strings(r.get("answers", r.get("answer")), where, "answers")
        if not answers and index:
            answers = tuple(choices[i] for i in index)
        out.append(EvalQuestion(
            id=str(r.get("id", n)),
            question=question.strip(),
            answers=answers,
            gold_doc_ids=_strings(r.get("gold_doc_ids"), where, "gold_doc_ids"),
            gold_titles=_strings(r.get("gold_titles"), where, "gold_titles"),
            gold_evidence=_strings(r.get("gold_evidence"), where, "gold_evidence"),
            as_of=iso_day(r.get("as_of")),
            choices=choices,
            answer_index=index,
            kind=str(r.get("kind") or ""),
            unanswerable=bool(r.get("unanswerable", False)),
            meta={k: v for k, v in r.items() if k not in GENERIC_FIELDS},
        ))
    if not out:
        raise DatasetError(f"{questions} holds no questions")
    return Dataset("jsonl", tuple(out), Path(corpus) if corpus else None)


def load_realtimeqa(questions: Path, corpus: Path | None = None) -> Dataset:
    """RealTime QA: gold docs are corpus doc_ids; gold evidence only where the gold doc is in it."""
    out = []
    for n, r in _read_jsonl(questions):
        where = f"{questions} line {n}"
        try:
            choices = tuple(strip_quotes(c) for c in r["choices"])
            gold_docs = _strings(r.get("gold_doc_ids"), where, "gold_doc_ids")
            evidence = (r.get("evidence_text") or "").strip()
            out.append(EvalQuestion(
                id=str(r["question_id"]),
                question=r["question"].strip(),
                answers=tuple(strip_quotes(a) for a in r["answer"]),
                gold_doc_ids=gold_docs,
                # the quiz's evidence is a paraphrase of the article; it is a passage-level
                # target only where the article it paraphrases is in the corpus
                gold_evidence=(evidence,) if gold_docs and evidence else (),
                as_of=iso_day(r.get("question_date")),
                choices=choices,
                answer_index=_indices(r.get("answer_index"), len(choices), where),
                kind="realtimeqa",
                meta={"evidence_text": evidence, "source": r.get("source"),
                      "week": r.get("week"), "gcs_doc_ids": r.get("gcs_doc_ids", [])},
            ))
        except (KeyError, TypeError, AttributeError) as e:
            raise DatasetError(
                f"{where}: not a RealTime QA record (needs question_id, question, choices, "
                f"answer, answer_index, question_date): {type(e).__name__} {e}"
            ) from None
    if not out:
        raise DatasetError(f"{questions} holds no questions")
    return Dataset("realtimeqa", tuple(out), Path(corpus) if corpus else None,
                   notes="Gold evidence is the quiz's own sentence, often a paraphrase of the "
                         "article: passage-level figures are approximate.")


def load_multihop(questions: Path, corpus: Path | None = None) -> Dataset:
    """MultiHop-RAG queries: facts are the passage-level gold; null queries expect an abstention."""
    out = []
    for n, r in _read_jsonl(questions):
        where = f"{questions} line {n}"
        try:
            evidence = r.get("evidence_list") or []
            kind = str(r.get("question_type") or "")
            out.append(EvalQuestion(
                id=str(r["id"]),
                question=r["query"].strip(),
                answers=_strings(r.get("answer"), where, "answer"),
                # URLs match a corpus record's URL through newsrag's URL-based article id
                gold_doc_ids=tuple(dict.fromkeys(e["url"] for e in evidence if e.get("url"))),
                gold_evidence=tuple(dict.fromkeys(e["fact"] for e in evidence if e.get("fact"))),
                as_of=None,
                kind=kind,
                unanswerable=kind == "null_query",
                meta={"sources": [e.get("source") for e in evidence],
                      "titles": [e.get("title") for e in evidence]},
            ))
        except (KeyError, TypeError, AttributeError) as e:
            raise DatasetError(
                f"{where}: not a MultiHop-RAG query (needs id, query, answer, evidence_list): "
                f"{type(e).__name__} {e}"
            ) from None
    if not out:
        raise DatasetError(f"{questions} holds no questions")
    return Dataset("multihop", tuple(out), Path(corpus) if corpus else None,
                   notes="The MultiHop-RAG corpus is not available here: pass --corpus to "
                         "evaluate retrieval; the query loader and scoring are tested alone.")


LOADERS: dict[str, Callable[[Path, Path | None], Dataset]] = {
    "jsonl": load_jsonl,
    "realtimeqa": load_realtimeqa,
    "multihop": load_multihop,
}


def load_dataset(name: str, questions: Path, corpus: Path | None = None) -> Dataset:
    if name not in LOADERS:
        raise DatasetError(f"Unknown dataset {name!r}. Valid datasets are: {sorted(LOADERS)}")
    return LOADERS[name](Path(questions), corpus)


# ---------------------------------------------------------------- the dataset's own index

def _content_digest(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def corpus_fingerprint(corpus: Path) -> list[tuple[str, int, str]]:
    """(name, size, content digest) of the corpus file, or of every file under the corpus folder
    (names relative to it). Content, not modification time: a corpus copied or provisioned again
    with the same bytes keeps its index (13 MB hash in about 30 ms)."""
    corpus = Path(corpus).resolve()
    if corpus.is_file():
        return [("", corpus.stat().st_size, _content_digest(corpus))]
    if not corpus.is_dir():
        raise DatasetError(f"No such corpus file or folder: {corpus}")
    files = sorted(p for p in corpus.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(corpus).parts))
    return [(p.relative_to(corpus).as_posix(), p.stat().st_size, _content_digest(p)) for p in files]


def index_key(corpus: Path, settings: Settings) -> str:
    """Same corpus bytes and same index settings -> same key -> reused index."""
    material = {
        "corpus": corpus_fingerprint(corpus),
        "settings": {name: str(getattr(settings, name)) for name in INDEX_SETTINGS},
    }
    return sha1_hex(json.dumps(material, sort_keys=True))[:16]


def eval_settings(corpus: Path, settings: Settings) -> Settings:
    """Settings of the evaluation index: <data_dir>/eval/<key>/, embedded Chroma, never the user's."""
    data_dir = Path(settings.data_dir) / "eval" / index_key(corpus, settings)
    return settings.replace(data_dir=data_dir, chroma_url=None, collection="eval")


def vector_files_beside(corpus: Path) -> tuple[str, ...]:
    """The vector files (`vectors-*.npz`) that ship beside a corpus file or inside its folder."""
    corpus = Path(corpus)
    folder = corpus if corpus.is_dir() else corpus.parent
    return tuple(str(p) for p in sorted(folder.glob("vectors-*.npz")))


def open_eval_index(corpus: Path, settings: Settings, progress: Callable | None = None):
    """The dataset's index, built on first use; later runs only check that nothing changed.

    Vectors come from the settings' vector files, else from the ones beside the corpus that
    match the embedder (a vector's key is its exact text: the index is the same either way)."""
    from ingest.run import ingest
    from rag.index import Index

    s = eval_settings(corpus, settings)
    if not s.vector_files:
        s = s.replace(vector_files=vector_files_beside(corpus))
    index = Index.open(s)
    if not settings.vector_files and s.vector_files:
        _keep_matching_vector_files(index)
    try:
        report = ingest(index, [Path(corpus)], progress=progress)
        if index.catalog.counts()["articles"] == 0:
            raise DatasetError(f"Nothing in {corpus} could be indexed ({dict(report.skipped)})")
    except BaseException:
        index.close()
        raise
    (s.data_dir / "corpus.json").write_text(json.dumps(
        {"corpus": str(Path(corpus).resolve()), "settings": {n: str(getattr(s, n))
         for n in INDEX_SETTINGS}}, indent=2), "utf-8")
    return index, report


def _keep_matching_vector_files(index) -> None:
    """Found beside the corpus, not asked for: a file of another embedder is left out, not an
    error (a corpus may ship vectors of several models)."""
    from rag.vector_files import VectorFile, VectorFileError

    keep = []
    for path in index.settings.vector_files:
        try:
            f = VectorFile(path)
        except VectorFileError:
            continue
        if (f.model, f.dimension) == (index.embedder.name, index.embedder.dimension):
            keep.append(path)
    index.settings = index.settings.replace(vector_files=tuple(keep))


# ---------------------------------------------------------------- document identity

def url_article_id(url: str) -> str | None:
    """The newsrag article id a record with this URL gets (see rag.types.Article.create)."""
    curl = canonical_url(url)
    return "a" + sha1_hex(f"url:{curl}")[:15] if curl else None


def normalize_title(title: str) -> str:
    return re.sub(r"\s+", " ", strip_quotes(title)).strip().casefold()


def stored_articles_for(catalog, gold_id: str) -> set[str]:
    """The stored articles that stand for a corpus document: itself, or the one it duplicates.

    `gold_id` may be the record's id (doc_id, stored as external_id), its URL, or a newsrag
    article id. A copy skipped by dedup is in the `duplicates` table, pointing at the original.
    """
    keys = [gold_id] + [k for k in (url_article_id(gold_id),) if k]
    return catalog.articles_standing_for(keys)


def stored_articles_titled(catalog, title: str) -> set[str]:
    """The stored articles (and originals of skipped copies) with this headline."""
    want = normalize_title(title)
    rows = catalog.titles_containing(want[:40])
    return {aid for aid, t in rows if t and normalize_title(t) == want}


def gold_doc_units(catalog, q: EvalQuestion) -> list[frozenset[str]]:
    """The question's gold documents as sets of stored article ids, one set per distinct document.

    Two gold documents stored as one article (deduplicated) are one unit; a gold document not
    in the index is an empty set (it counts in the denominator and can never be retrieved).
    """
    units: list[frozenset[str]] = []
    for g in q.gold_doc_ids:
        units.append(frozenset(stored_articles_for(catalog, g)))
    for t in q.gold_titles:
        units.append(frozenset(stored_articles_titled(catalog, t)))
    found = list(dict.fromkeys(u for u in units if u))
    return found + [u for u in units if not u]
