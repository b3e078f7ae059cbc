"""Any OpenAI-compatible chat endpoint (OpenAI, Ollama, vLLM, llama.cpp server), streamed."""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import date

import httpx

from rag.answerers.base import build_messages
from rag.errors import AnswererError, ConfigError
from rag.settings import Settings
from rag.types import Passage


class OpenAICompatAnswerer:
    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        context_tokens: int = 3000,
        timeout: float = 60.0,
        encoding: str = "cl100k_base",
    ):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.context_tokens = context_tokens
        self.timeout = timeout
        self.encoding = encoding

    @classmethod
    def from_settings(cls, s: Settings) -> OpenAICompatAnswerer:
        if not s.llm_base_url or not s.llm_model:
            raise ConfigError(
                "The openai answerer needs llm_base_url and llm_model "
                "(NEWSRAG_LLM_BASE_URL, NEWSRAG_LLM_MODEL), e.g. http://127.0.0.1:11434/v1 for Ollama."
            )
        return cls(s.llm_base_url, s.llm_model, s.llm_api_key,
                   context_tokens=s.llm_context_tokens, timeout=s.llm_timeout, encoding=s.encoding)

    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        return h

    def stream(
        self,
        question: str,
        passages: Sequence[Passage],
        *,
        as_of: date,
        history: Sequence[tuple[str, str]] = (),
    ) -> Iterator[str]:
        messages, _ = build_messages(question, passages, as_of=as_of, history=history,
                                     budget_tokens=self.context_tokens, encoding=self.encoding)
        yield from self.chat(messages, stream=True)

    def complete(self, prompt: str) -> str:
        """One non-streamed reply: used to rewrite follow-ups and as an LLM judge."""
        return "".join(self.chat([{"role": "user", "content": prompt}], stream=False))

    def chat(self, messages: list[dict], *, stream: bool) -> Iterator[str]:
        body = {"model": self.model, "messages": messages, "stream": stream, "temperature": 0}
        url = f"{self.base_url}/chat/completions"
        try:
            with httpx.stream("POST", url, json=body, headers=self._headers(),
                              timeout=self.timeout) as r:
                if r.status_code >= 400:
                    r.read()
                    raise AnswererError(
                        f"The chat endpoint {url} answered {r.status_code}: {r.text[:300]}")
                if not stream:
                    r.read()
                    data = r.json()
                    yield data["choices"][0]["message"]["content"] or ""
                    return
                for line in r.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        return
                    chunk = json.loads(payload)
                    choices = chunk.get("choices") or []
                    if choices:
                        piece = (choices[0].get("delta") or {}).get("content")
                        if piece:
                            yield piece
        except httpx.HTTPError as e:
            raise AnswererError(f"Cannot reach the chat endpoint {url}: {e}") from None
        except (KeyError, IndexError, ValueError) as e:
            raise AnswererError(f"The chat endpoint {url} sent a malformed reply: {e}") from None
