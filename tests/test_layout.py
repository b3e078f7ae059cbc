"""The layout says who owns what: each package imports only the ones below it.

rag (the core) <- ingest <- ui <- eval (quality) ; harness (faults, fuzz, soak, load, bench) on
top, imported by nothing but the `newsrag bench` entry in ui/cli.py and the tests.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rag", "ingest", "ui", "eval", "harness")
# what each package may import from the others
ALLOWED = {
    "rag": set(),
    "ingest": {"rag"},
    "ui": {"rag", "ingest"},
    "eval": {"rag", "ingest"},
    "harness": {"rag", "ingest", "ui", "eval"},
}
# the command-line doors into the upper packages (imported when the command runs)
ENTRIES = {("ui/cli.py", "eval"), ("ui/cli.py", "harness")}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out & set(PACKAGES)


def test_each_package_imports_only_the_ones_below_it() -> None:
    wrong = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for other in imports_of(path) - {pkg} - ALLOWED[pkg]:
                if (rel, other) not in ENTRIES:
                    wrong.append(f"{rel} imports {other}")
    assert not wrong, wrong


def test_the_harness_is_imported_only_by_its_entry_and_the_tests() -> None:
    users = sorted(p.relative_to(ROOT).as_posix() for pkg in PACKAGES if pkg != "harness"
                   for p in (ROOT / pkg).rglob("*.py") if "harness" in imports_of(p))
    assert users == ["ui/cli.py"]


def test_the_layout_check_sees_a_wrong_import(tmp_path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("from ui.server import create_app\nimport harness.bench\n", "utf-8")
    assert imports_of(bad) == {"ui", "harness"}


def test_parts_are_made_through_one_door_with_one_signature() -> None:
    import inspect

    import eval.grounding  # noqa: F401  (registers the judges)
    import rag.answerers
    import rag.rerank  # noqa: F401
    from rag.errors import ConfigError
    from rag.registry import REGISTRIES, Tools, make
    from rag.settings import Settings

    assert REGISTRIES["answerer"].names() == ["extractive", "learned", "llamacpp", "openai"]
    assert REGISTRIES["reranker"].names() == ["cross-encoder"]
    assert REGISTRIES["judge"].names() == ["learned", "llm", "nli"]
    for registry in REGISTRIES.values():
        for factory in registry._factories.values():
            assert list(inspect.signature(factory).parameters) == ["settings", "tools"]
    assert make("answerer", "extractive", Settings(), Tools()).name == "extractive"
    for kind, name in (("answerer", "oracle"), ("judge", "oracle"), ("colour", "red")):
        try:
            make(kind, name, Settings())
        except ConfigError as e:
            assert name in str(e) or kind in str(e)
        else:
            raise AssertionError(f"{kind} {name} was made")


def test_an_answerer_without_the_protocol_is_refused_at_once(demo_rag) -> None:
    import pytest

    from rag.errors import ConfigError
    from rag.pipeline import NewsRAG

    class Bare:
        name = "bare"

        def stream(self, question, passages, *, as_of, history=()):
            yield "x"

    with pytest.raises(ConfigError, match="complete"):
        NewsRAG(demo_rag.index, answerer=Bare())


# --- one owner for SQL, and for writes ------------------------------------------------------
SQL = re.compile(r"\b(SELECT\s+[\w*(]|INSERT\s+(OR\s+\w+\s+)?INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET|"
                 r"CREATE\s+(TABLE|INDEX|VIRTUAL)|PRAGMA\s+\w+|sqlite3\.connect)")
# the catalog implementations, and the SQLite catalog's own tests (which damage the file as an
# old version or a bug would)
SQL_OWNERS = {"rag/catalog.py", "rag/catalog_postgres.py", "tests/rag/test_catalog_sqlite.py"}
# the Index's writes, and the catalog's own: nothing else calls these
WRITES = re.compile(r"\.(mark_pending|commit_articles|upsert|delete_articles|delete_ids)\(")
WRITE_OWNERS = {"rag/index.py", "rag/catalog.py", "rag/store.py",
                # the lexical index's tests write a catalog alone, with no vectors to keep in step
                "tests/rag/test_bm25.py"}


def _sources() -> list[Path]:
    return sorted(p for d in (*PACKAGES, "tests") for p in (ROOT / d).rglob("*.py"))


def sql_in(text: str) -> list[str]:
    return [m.group() for m in SQL.finditer(text)]


def test_sql_lives_only_in_the_catalog_implementations() -> None:
    found = {p.relative_to(ROOT).as_posix(): hits for p in _sources()
             if p.name != "test_layout.py" and (hits := sql_in(p.read_text("utf-8")))}
    assert set(found) <= SQL_OWNERS, {k: v for k, v in found.items() if k not in SQL_OWNERS}
    assert {"rag/catalog.py", "rag/catalog_postgres.py"} <= set(found)


def test_the_index_is_the_only_writer() -> None:
    found = sorted(p.relative_to(ROOT).as_posix() for p in _sources()
                   if p.name != "test_layout.py" and WRITES.search(p.read_text("utf-8")))
    allowed = WRITE_OWNERS | {p for p in found if p.startswith("tests/contracts/")}
    assert set(found) <= allowed, sorted(set(found) - allowed)


def test_the_checks_see_sql_and_writes() -> None:
    assert sql_in('db.execute("SELECT id FROM chunks")') == ["SELECT i"]
    assert sql_in("x = sqlite3.connect(path)") and sql_in("INSERT OR REPLACE INTO meta")
    assert not sql_in("Select the outlets you want, then update the list.")
    assert WRITES.search("idx.store.upsert(chunks, v, m)")


def test_a_citation_has_one_shape() -> None:
    from dataclasses import fields

    from rag.types import Citation, citation_to_dict
    from ui.server import CitationOut

    names = [f.name for f in fields(Citation)]
    c = Citation(1, "a-0001", "a", "Title", None, None, None, "Passage.", 0, 8, 0.51234)
    assert list(citation_to_dict(c)) == names and citation_to_dict(c)["support"] == 0.512
    assert set(CitationOut.model_fields) <= set(names)
    CitationOut.model_validate(citation_to_dict(c))
