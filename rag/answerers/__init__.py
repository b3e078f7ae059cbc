"""Answerers: one protocol (`base.Answerer`), registered by name (extractive, openai, llamacpp)
in `rag.registry.ANSWERERS`; built through `rag.registry.make("answerer", name, settings, tools)`."""
from __future__ import annotations

from rag.answerers.base import Answerer
from rag.registry import ANSWERERS, Tools, make
from rag.settings import Settings


@ANSWERERS.register("extractive")
def _extractive(settings: Settings, tools: Tools) -> Answerer:
    from rag.answerers.extractive import ExtractiveAnswerer

    return ExtractiveAnswerer(embed=tools.embed, doc_freq=tools.doc_freq,
                              total_docs=tools.total_docs)


@ANSWERERS.register("learned")
def _learned(settings: Settings, tools: Tools) -> Answerer:
    from rag.answerers.learned import LearnedAnswerer

    return LearnedAnswerer(embed=tools.embed, doc_freq=tools.doc_freq,
                           total_docs=tools.total_docs, model=settings.answer_model)


@ANSWERERS.register("openai")
def _openai(settings: Settings, tools: Tools) -> Answerer:
    from rag.answerers.openai_compat import OpenAICompatAnswerer

    return OpenAICompatAnswerer.from_settings(settings)


@ANSWERERS.register("llamacpp")
def _llamacpp(settings: Settings, tools: Tools) -> Answerer:
    from rag.answerers.llamacpp import LlamaCppAnswerer

    return LlamaCppAnswerer.from_settings(settings)


def get_answerer(name: str, settings: Settings, tools: Tools | None = None) -> Answerer:
    return make("answerer", name, settings, tools)
