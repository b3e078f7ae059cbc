"""Article records: JSON (a list, or one under "articles"/"items"/"data"), JSONL/NDJSON and CSV."""
from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from rag.types import Article, Skip

from .common import clean_url, fallback_title, normalize_date, one_line, split_authors, text_or_html

# target field -> the input field names that feed it, tried in order (case-insensitive)
ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("title", "headline"),
    "text": ("text", "body", "content", "article", "maintext"),
    "url": ("url", "link"),
    "published": ("published_at", "published", "date", "publish_date", "pubDate", "datetime"),
    "source": ("source", "site", "outlet", "publisher"),
    "authors": ("author", "authors", "byline"),
    "external_id": ("id", "doc_id", "article_id"),
}
_TARGET_OF = {alias.lower(): target for target, names in ALIASES.items() for alias in names}
_LIST_KEYS = ("articles", "items", "data", "records", "results", "documents")


def check_mapping(mapping: dict[str, str] | None) -> dict[str, str]:
    """The mapping keyed by target field; its keys may be a target or any alias of one."""
    if not mapping:
        return {}
    resolved = {}
    for key, field in mapping.items():
        target = key if key in ALIASES else _TARGET_OF.get(key.lower())
        if target is None:
            raise ValueError(
                f"Unknown target field {key!r} in mapping. Valid fields are: {sorted(ALIASES)}"
            )
        resolved[target] = field
    return resolved


def _lookup(record: dict[str, Any], name: str) -> Any:
    """A field by exact name, then case-insensitively, then as a dotted path ("meta.title")."""
    if name in record:
        return record[name]
    lowered = {str(k).lower(): v for k, v in record.items()}
    if name.lower() in lowered:
        return lowered[name.lower()]
    if "." not in name:
        return None
    value: Any = record
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _field(record: dict[str, Any], target: str, mapping: dict[str, str]) -> Any:
    if target in mapping:
        return _lookup(record, mapping[target])
    for name in ALIASES[target]:
        value = _lookup(record, name)
        if value not in (None, "", []):
            return value
    return None


def _as_text(value: Any) -> str:
    """Body text from a string, or a list of paragraph strings; HTML becomes paragraphs."""
    if isinstance(value, list):
        value = "\n\n".join(v for v in value if isinstance(v, str))
    if isinstance(value, str):
        return text_or_html(value)
    return ""


def _as_str(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int, float)):
        return one_line(str(value)) or None
    return None


def make_article(record: Any, origin: str, mapping: dict[str, str]) -> Article | Skip:
    """An Article from one record, or a Skip saying what it lacked."""
    if not isinstance(record, dict):
        kind = type(record).__name__
        return Skip(origin, "malformed json", f"a record must be an object, got {kind}")
    text = _as_text(_field(record, "text", mapping))
    if not text:
        wanted = mapping.get("text") or "|".join(ALIASES["text"])
        return Skip(origin, "missing text", f"no text in field {wanted}")
    source = _field(record, "source", mapping)
    if isinstance(source, dict):  # e.g. {"id": ..., "name": "Reuters"} as in NewsAPI dumps
        source = source.get("name")
    return Article.create(
        title=_as_str(_field(record, "title", mapping)) or fallback_title(text),
        text=text,
        url=clean_url(_field(record, "url", mapping)),
        source=_as_str(source),
        authors=split_authors(_field(record, "authors", mapping)),
        published=normalize_date(_field(record, "published", mapping)),
        origin=origin,
        external_id=_as_str(_field(record, "external_id", mapping)),
    )


def load_records(
    text: str, origin: str, *, suffix: str, mapping: dict[str, str] | None = None
) -> Iterator[Article | Skip]:
    """Articles from a JSON, JSONL/NDJSON or CSV file; a bad record is skipped, the rest load."""
    fields = check_mapping(mapping)
    if suffix == ".csv":
        yield from _csv(text, origin, fields)
    elif suffix == ".json":
        yield from _json(text, origin, fields)
    else:
        yield from _jsonl(text, origin, fields)


def _json(text: str, origin: str, mapping: dict[str, str]) -> Iterator[Article | Skip]:
    try:
        data = json.loads(text)
    except RecursionError:
        yield Skip(origin, "malformed json", "nested too deeply")
        return
    except ValueError as exc:
        if "Extra data" in str(exc):  # a .json file that is really JSON Lines
            yield from _jsonl(text, origin, mapping)
            return
        yield Skip(origin, "malformed json", str(exc))
        return
    records = _records_in(data)
    if records is None:
        where = "/".join(_LIST_KEYS)
        yield Skip(origin, "no article", f"expected a list of objects, or one under {where}")
        return
    yield from _each(records, origin, mapping)


def _records_in(data: Any) -> list[Any] | None:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in _LIST_KEYS:
            if isinstance(data.get(key), list):
                return data[key]
        if _field(data, "text", {}) is not None:
            return [data]  # a single article object
    return None


def _each(records: Iterable[Any], origin: str, mapping: dict[str, str]) -> Iterator[Article | Skip]:
    for n, record in enumerate(records, 1):
        yield make_article(record, f"{origin}#{n}", mapping)


def _jsonl(text: str, origin: str, mapping: dict[str, str]) -> Iterator[Article | Skip]:
    # "#N" is the line number. Split on "\n" only: U+2028 may sit raw inside a JSON string.
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except RecursionError:
            yield Skip(f"{origin}#{n}", "malformed json", "nested too deeply")
            continue
        except ValueError as exc:
            yield Skip(f"{origin}#{n}", "malformed json", str(exc))
            continue
        yield make_article(record, f"{origin}#{n}", mapping)


def _delimiter(header: str) -> str:
    """The most frequent of , ; tab | in the header line (outside quotes)."""
    counts = {d: 0 for d in ",;\t|"}
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv(text: str, origin: str, mapping: dict[str, str]) -> Iterator[Article | Skip]:
    # "#N" is the data row number (the header excluded); a quoted cell may span lines.
    old_limit = csv.field_size_limit(sys.maxsize)  # article bodies exceed the 128 KiB default
    try:
        delimiter = _delimiter(text[:65536].split("\n", 1)[0])
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        try:
            header = [h.strip() for h in next(reader)]
        except (csv.Error, StopIteration) as exc:
            yield Skip(origin, "malformed csv", f"no readable header row: {exc}")
            return
        yield from _csv_rows(reader, header, origin, mapping)
    finally:
        csv.field_size_limit(old_limit)


def _csv_rows(
    reader: Iterator[list[str]], header: list[str], origin: str, mapping: dict[str, str]
) -> Iterator[Article | Skip]:
    n = 0
    while True:
        n += 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Skip(f"{origin}#{n}", "malformed csv", str(exc))
            continue
        if not any(cell.strip() for cell in row):
            n -= 1  # blank lines are not rows
            continue
        if len(row) != len(header):
            yield Skip(
                f"{origin}#{n}", "malformed csv", f"{len(row)} fields, the header has {len(header)}"
            )
            continue
        yield make_article(dict(zip(header, row, strict=True)), f"{origin}#{n}", mapping)
