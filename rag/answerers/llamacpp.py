"""A local GGUF model through llama-cpp-python (the optional `llamacpp` extra)."""
from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

from rag.answerers.base import build_messages
from rag.errors import AnswererError, ConfigError, MissingDependencyError
from rag.settings import Settings
from rag.types import Passage


class LlamaCppAnswerer:
    name = "llamacpp"
    complete = None  # no model to rewrite a follow-up with: the rule-based rewrite

    def __init__(self, model_path: str, *, context_tokens: int = 3000, n_threads: int | None = None,
                 encoding: str = "cl100k_base"):
        try:
            from llama_cpp import Llama
        except ImportError:
            raise MissingDependencyError("llama-cpp-python", "llamacpp") from None
        if not Path(model_path).is_file():
            raise ConfigError(f"GGUF model {model_path!r} does not exist")
        try:
            self.llm = Llama(model_path=model_path, n_ctx=context_tokens + 1024,
                             n_threads=n_threads, verbose=False)
        except ValueError as e:  # llama-cpp-python's "Failed to load model from file"
            raise ConfigError(f"Cannot load the GGUF model {model_path!r}: {e}") from None
        # one llama.cpp context serves one generation at a time (the server streams from
        # several threads): concurrent calls would corrupt its state
        self._lock = threading.Lock()
        self.context_tokens = context_tokens
        self.encoding = encoding

    @classmethod
    def from_settings(cls, s: Settings) -> LlamaCppAnswerer:
        if not s.llamacpp_model_path:
            raise ConfigError("The llamacpp answerer needs llamacpp_model_path "
                              "(NEWSRAG_LLAMACPP_MODEL_PATH): a .gguf file")
        return cls(s.llamacpp_model_path, context_tokens=s.llm_context_tokens, encoding=s.encoding)

    def stream(self, question: str, passages: Sequence[Passage], *, as_of: date,
               history: Sequence[tuple[str, str]] = ()) -> Iterator[str]:
        messages, _ = build_messages(question, passages, as_of=as_of, history=history,
                                     budget_tokens=self.context_tokens, encoding=self.encoding)
        with self._lock:
            try:
                for chunk in self.llm.create_chat_completion(messages=messages, stream=True,
                                                             temperature=0):
                    piece = chunk["choices"][0].get("delta", {}).get("content")
                    if piece:
                        yield piece
            except (ValueError, RuntimeError) as e:  # e.g. the prompt exceeds the context
                raise AnswererError(f"The local model failed: {e}") from None
