"""The OpenAI-compatible door: `GET /v1/models` and `POST /v1/chat/completions` (plain and
streamed), answered by the same pipeline as `/api/ask`, behind the same checks (docs/openai.md)."""
from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from itertools import chain
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from rag.errors import NewsragError
from rag.types import HISTORY_TURNS_ACCEPTED, answer_to_dict
from ui.errors import reader_message
from ui.guard import json_safe
from ui.server import AskRequest, _describe, _first, _http_error

MODEL = "newsrag"
EXTRA = "newsrag"  # the extra field: filters in the request, the checked answer in the reply
FILTERS = ("as_of", "since", "sources", "until")  # what the extra field of a request may hold
log = logging.getLogger("newsrag.server")

# OpenAI's error types by status (https://platform.openai.com/docs/guides/error-codes)
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
               403: "permission_error", 404: "not_found_error", 409: "conflict_error",
               413: "invalid_request_error", 422: "invalid_request_error",
               429: "rate_limit_error", 502: "api_error", 503: "api_error"}


# --- request shapes ----------------------------------------------------------------------
class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat request; the sampling parameters are accepted and have no effect (the
    answer is checked, not sampled). Filters go in the extra field `newsrag`."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "model": MODEL, "messages": [{"role": "user", "content":
                                      "Who was appointed to mediate the Port Calder strike?"}],
        "newsrag": {"as_of": "2026-11-24"}}]})
    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    n: int = Field(1, ge=1, le=1, description="one answer per request")
    newsrag: dict[str, Any] | None = Field(
        None, description="sources, since, until, as_of: as in POST /api/ask")

    def ask_request(self) -> AskRequest:
        """The conversation as /api/ask reads it: the last user message is the question, the
        earlier user/assistant turns its history (system messages are not read)."""
        turns = [m for m in self.messages if m.role in ("user", "assistant")]
        if not turns or turns[-1].role != "user":
            raise _bad("messages: the last user or assistant message must be the user's "
                       "question", "messages")
        pairs, user = [], None
        for m in turns[:-1]:
            if m.role == "user":
                user = m.text()
            elif user is not None:
                pairs.append((user, m.text()))
                user = None
        filters = dict(self.newsrag or {})
        if unknown := sorted(set(filters) - set(FILTERS)):
            raise _bad("; ".join(f"newsrag.{k}: not one of the filters ({', '.join(FILTERS)})"
                                 for k in unknown), f"newsrag.{unknown[0]}")
        try:  # a chat front end sends the whole conversation: the latest turns are read
            return AskRequest(question=turns[-1].text(), history=pairs[-HISTORY_TURNS_ACCEPTED:],
                              **filters)
        except ValidationError as e:
            errors = [{**x, "loc": _where(x.get("loc", ()))}
                      for x in json_safe(e.errors(include_url=False))]
            raise _bad("; ".join(_describe(x) for x in errors), _param(errors)) from None


# --- errors in OpenAI's shape --------------------------------------------------------------
class OpenAIError(HTTPException):
    def __init__(self, status: int, message: str, param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(status, message, headers)
        self.param, self.code = param, code


def _bad(message: str, param: str | None = None) -> OpenAIError:
    return OpenAIError(400, message, param)


def _where(loc: list | tuple) -> list:
    """Where an /api/ask field came from in the OpenAI request."""
    if loc and loc[0] in ("question", "history"):
        return ["messages", *loc[1:]]
    return ["newsrag", *loc]


def _param(errors: list[dict]) -> str | None:
    loc = [str(p) for p in (errors[0].get("loc", ()) if errors else ()) if p != "body"]
    return ".".join(loc) or None


def error_body(status: int, message: str, param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": ERROR_TYPES.get(status, "api_error"),
                      "param": param, "code": code}}


def error_response(status: int, message: str, param: str | None = None,
                   code: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, param, code), status_code=status,
                        headers=headers)


class OpenAIRoute(APIRoute):
    """A route whose errors (checks, validation, the pipeline's) take OpenAI's shape; a bad
    body is a 400 there, not a 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as e:
                errors = json_safe(e.errors())
                return error_response(400, "; ".join(_describe(x) for x in errors),
                                      _param(errors))
            except OpenAIError as e:
                return error_response(e.status_code, str(e.detail), e.param, e.code, e.headers)
            except HTTPException as e:
                status = 400 if e.status_code == 422 else e.status_code
                return error_response(status, str(json_safe(e.detail)), headers=e.headers)
            except Exception:
                log.exception("%s failed", request.url.path)
                return error_response(500, "Internal error: it is logged.")

        return route


# --- the routes ----------------------------------------------------------------------------
def add_openai_routes(app: FastAPI, rag: Any, checks: Any) -> None:
    def models() -> dict[str, Any]:
        """The one model: newsrag's checked answers (its answerer is a server setting)."""
        return {"object": "list", "data": [model_card(rag)]}

    def model(model: str) -> dict[str, Any]:
        _known(model)
        return model_card(rag)

    async def chat_completions(body: ChatCompletionRequest) -> Any:
        """An answer to the last user message, with `[n]` markers in the text and the
        citations in the extra field `newsrag` (of the reply, or of the stream's last chunk)."""
        _known(body.model)
        ask = body.ask_request()
        if not body.stream:
            answer = await run_in_threadpool(_answer, rag, ask)
            return completion(answer, body.model)
        events = rag.ask_stream(ask.question, **ask.kwargs())
        first = await run_in_threadpool(_first, events)  # errors before any byte: a 4xx
        return StreamingResponse(
            _chunks(chain([first], events), body.model), media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    # added one by one (an included router would hide their paths from the guard's list)
    for path, endpoint, method, deps in (
            ("/v1/models", models, "GET", checks.guarded),
            ("/v1/models/{model}", model, "GET", checks.guarded),
            ("/v1/chat/completions", chat_completions, "POST", checks.limited)):
        app.router.add_api_route(path, endpoint, methods=[method], dependencies=deps,
                                 tags=["openai"], route_class_override=OpenAIRoute)


def model_card(rag: Any) -> dict[str, Any]:
    return {"id": MODEL, "object": "model", "created": 0, "owned_by": "newsrag",
            "answerer": rag.settings.answerer}


def _known(model: str) -> None:
    if model != MODEL:
        raise OpenAIError(404, f"The model {model!r} does not exist: this server has one "
                               f"model, {MODEL!r} (GET /v1/models).", "model", "model_not_found")


def _answer(rag: Any, ask: AskRequest) -> dict[str, Any]:
    try:
        return answer_to_dict(rag.ask(ask.question, **ask.kwargs()))
    except NewsragError as e:
        raise _http_error(e) from None


def completion(answer: dict[str, Any], model: str) -> dict[str, Any]:
    """The chat.completion object for an answer (the /api/ask JSON in its extra field)."""
    return {"id": _id(), "object": "chat.completion", "created": int(time.time()),
            "model": model, "system_fingerprint": None,
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": answer["answer"],
                                     "refusal": None}}],
            EXTRA: answer}


def _chunks(events: Iterator[dict], model: str) -> Iterator[str]:
    """chat.completion.chunk events: the role, each verified piece of text, then a last chunk
    with finish_reason "stop" and the answer in `newsrag`; then [DONE]."""
    base = {"id": _id(), "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "system_fingerprint": None}

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        data = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                     "finish_reason": finish}], **extra}
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    sent = ""
    try:
        for event in events:
            name = event["event"]
            if name == "delta":
                sent += event["text"]
                yield chunk({"content": event["text"]})
            elif name == "reset" and event["text"].startswith(sent):
                # OpenAI's stream can only append: the text so far is a prefix, or nothing
                # was sent (the answer in the last chunk is the whole truth either way)
                yield chunk({"content": event["text"][len(sent):]})
                sent = event["text"]
            elif name == "answer":
                yield chunk({}, "stop", **{EXTRA: event["data"]})
    except NewsragError as e:
        status = _http_error(e).status_code
        yield f"data: {json.dumps(error_body(status, reader_message(e)))}\n\n"
    except Exception:  # the response has begun: report in-band, log the rest
        log.exception("stream failed")
        yield f"data: {json.dumps(error_body(500, 'Internal error while answering.'))}\n\n"
    yield "data: [DONE]\n\n"


def _id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]
