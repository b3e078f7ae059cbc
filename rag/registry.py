"""One door to the parts picked by name: answerers, rerankers, judges.

Every factory has the same signature, `factory(settings, tools)`: the settings, and the few things
of the index it serves that a part may use (`Tools`). A new part is one decorated function:

    @ANSWERERS.register("mine")
    def _mine(settings: Settings, tools: Tools) -> Answerer: ...

and is then found by `make("answerer", "mine", settings, tools)`, by the `answerer` setting and by
`newsrag eval --answerer mine`. Judges live with the evaluation (eval/grounding.py) and register
there; the registry itself is here, so that the core knows every kind.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.errors import ConfigError
from rag.settings import Settings


@dataclass(frozen=True)
class Tools:
    """What a part may use of the index it serves (all optional: a part works without them)."""
    embed: Callable[[Sequence[str]], np.ndarray] | None = None  # texts -> unit vectors (cached)
    doc_freq: Callable[[Sequence[str]], dict[str, int]] | None = None  # chunks holding each term
    total_docs: Callable[[], int] | None = None  # chunks in the index


Factory = Callable[[Settings, Tools], Any]


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._factories: dict[str, Factory] = {}

    def register(self, name: str) -> Callable[[Factory], Factory]:
        def add(factory: Factory) -> Factory:
            if name in self._factories:
                raise ValueError(f"A {self.kind} named {name!r} is already registered")
            self._factories[name] = factory
            return factory
        return add

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: str) -> bool:
        return name in self._factories

    def make(self, name: str, settings: Settings, tools: Tools | None = None) -> Any:
        if name not in self._factories:
            where = " (judges register when eval.grounding is imported)" if (
                self.kind == "judge" and not self._factories) else ""
            raise ConfigError(f"Unknown {self.kind} {name!r}. Valid {self.kind}s are: "
                              f"{self.names()}{where}")
        return self._factories[name](settings, tools or Tools())


ANSWERERS = Registry("answerer")
RERANKERS = Registry("reranker")
JUDGES = Registry("judge")
REGISTRIES = {r.kind: r for r in (ANSWERERS, RERANKERS, JUDGES)}


def make(kind: str, name: str, settings: Settings, tools: Tools | None = None) -> Any:
    """The part of this kind and name, built for these settings: the one door."""
    if kind not in REGISTRIES:
        raise ConfigError(f"Unknown kind of part {kind!r}. Valid kinds are: {sorted(REGISTRIES)}")
    if kind == "answerer":
        import rag.answerers  # registers the answerers
    elif kind == "reranker":
        import rag.rerank  # noqa: F401  (registers the rerankers)
    return REGISTRIES[kind].make(name, settings, tools)
