"""A local GGUF model through llama-cpp-python (the optional `llamacpp` extra)."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Iterator, Sequence

from rag.answerers.base import build_messages
from rag.errors import ConfigError, MissingDependencyError
from rag.settings import Settings
from rag.types import Passage


class LlamaCppAnswerer:
    name = "llamacpp"

    def __init__(self, model_path: str, *, context_tokens: int = 3000, n_threads: int | None = None,
                 encoding: str = "cl100k_base"):
        try:
            from llama_cpp import Llama
        except ImportError:
            raise MissingDependencyError("llama-cpp-python", "llamacpp") from None
        if not Path(model_path).is_file():
            raise ConfigError(f"GGUF model {model_path!r} does not exist")
        self.llm = Llama(model_path=model_path, n_ctx=context_tokens + 1024, n_threads=n_threads,
                         verbose=False)
        self.context_tokens = context_tokens
        self.encoding = encoding

    @classmethod
    def from_settings(cls, s: Settings) -> "LlamaCppAnswerer":
        if not s.llamacpp_model_path:
            raise ConfigError("The llamacpp answerer needs llamacpp_model_path "
                              "(NEWSRAG_LLAMACPP_MODEL_PATH): a .gguf file")
        return cls(s.llamacpp_model_path, context_tokens=s.llm_context_tokens, encoding=s.encoding)

    def stream(self, question: str, passages: Sequence[Passage], *, as_of: date,
               history: Sequence[tuple[str, str]] = ()) -> Iterator[str]:
        messages, _ = build_messages(question, passages, as_of=as_of, history=history,
                                     budget_tokens=self.context_tokens, encoding=self.encoding)
        for chunk in self.llm.create_chat_completion(messages=messages, stream=True, temperature=0):
            piece = chunk["choices"][0].get("delta", {}).get("content")
            if piece:
                yield piece
