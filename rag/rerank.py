"""Optional reranking with a sentence-transformers CrossEncoder from a configured name or path."""
from __future__ import annotations

from collections.abc import Sequence

from rag.errors import ConfigError
from rag.registry import RERANKERS, Tools
from rag.settings import Settings


class CrossEncoderReranker:
    def __init__(self, model: str):
        from sentence_transformers import CrossEncoder

        try:
            self.model = CrossEncoder(model, device="cpu")
        except (OSError, ValueError) as e:
            raise ConfigError(f"Cannot load the reranker {model!r}: {e}") from None

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        return [float(s) for s in self.model.predict([(query, p) for p in passages])]


@RERANKERS.register("cross-encoder")
def _cross_encoder(settings: Settings, tools: Tools) -> CrossEncoderReranker:
    """The `reranker_model` setting: a CrossEncoder's name or folder (none ships offline)."""
    if not settings.reranker_model:
        raise ConfigError("The cross-encoder reranker needs the reranker_model setting "
                          "(a model folder or name)")
    return CrossEncoderReranker(settings.reranker_model)
