"""The layout says who owns what: each package imports only the ones below it.

rag (the core) <- ingest <- ui <- eval (quality) ; harness (faults, fuzz, soak, load, bench) on
top, imported by nothing but the `newsrag bench` entry in ui/cli.py and the tests.
"""
from __future__ import annotations

import ast
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

    assert REGISTRIES["answerer"].names() == ["extractive", "llamacpp", "openai"]
    assert REGISTRIES["reranker"].names() == ["cross-encoder"]
    assert REGISTRIES["judge"].names() == ["lexical", "llm", "nli"]
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
