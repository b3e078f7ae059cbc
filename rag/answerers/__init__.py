"""Answerers: one protocol, picked by name (extractive, openai, llamacpp)."""
from __future__ import annotations

from collections.abc import Callable

from rag.answerers.base import Answerer
from rag.errors import ConfigError
from rag.settings import Settings


def _extractive(settings: Settings, **kw) -> Answerer:
    from rag.answerers.extractive import ExtractiveAnswerer

    return ExtractiveAnswerer(**kw)


def _openai(settings: Settings, **kw) -> Answerer:
    from rag.answerers.openai_compat import OpenAICompatAnswerer

    return OpenAICompatAnswerer.from_settings(settings)


def _llamacpp(settings: Settings, **kw) -> Answerer:
    from rag.answerers.llamacpp import LlamaCppAnswerer

    return LlamaCppAnswerer.from_settings(settings)


ANSWERERS: dict[str, Callable[..., Answerer]] = {
    "extractive": _extractive,
    "openai": _openai,
    "llamacpp": _llamacpp,
}


def get_answerer(name: str, settings: Settings, **kw) -> Answerer:
    if name not in ANSWERERS:
        raise ConfigError(f"Unknown answerer {name!r}. Valid answerers are: {sorted(ANSWERERS)}")
    return ANSWERERS[name](settings, **kw)
