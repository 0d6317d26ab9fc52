"""An OpenAI-compatible API on ``rag serve``: ``GET /v1/models`` and
``POST /v1/chat/completions`` (streamed as server-sent events or not), over the very answers of
the chat.

The last user message is the question and the earlier user and assistant messages are the
history, so follow-ups work. The answer text keeps its ``[n]`` markers; the checked citations
travel in a top-level ``citations`` field of the response, and of the last streamed chunk, which
also carries the checked ``answer`` text. Streamed pieces are the model's words as they come;
when the check then drops a sentence, refuses, or reads the answer again, the checked answer
follows them after a blank line (as in ``rag chat``), since a client cannot take back text. A
refusal is an ordinary answer with no citations. The access rules and limits of
:mod:`rag.access` apply (bearer token, busy gate, request size).
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, ValidationError

from rag.access import Gate, Policy
from rag.errors import (
    AccessError,
    BusyError,
    IndexStateError,
    InputError,
    ModelError,
    RagError,
    first_line,
)
from rag.types import Answer, Citation, Sources

if TYPE_CHECKING:
    from rag.settings import Settings

AskStream = Callable[..., Iterator[Any]]

_STATUS: list[tuple[type[RagError], int, str]] = [
    (AccessError, 401, "invalid_request_error"),
    (BusyError, 429, "rate_limit_exceeded"),
    (InputError, 400, "invalid_request_error"),
    (IndexStateError, 503, "server_error"),
    (ModelError, 503, "server_error"),
    (RagError, 500, "server_error"),
]


class ChatMessage(BaseModel):
    """One message of a chat request (text, or a list of parts of which the text is read)."""

    model_config = ConfigDict(extra="ignore")
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message's text."""
        if isinstance(self.content, list):
            return " ".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    """The fields of ``/v1/chat/completions`` this server reads (others are ignored)."""

    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    messages: list[ChatMessage]
    stream: bool = False
    temperature: float | None = None
    max_tokens: int | None = None


def citation_dict(c: Citation) -> dict[str, Any]:
    """A citation as the API sends it: every field of :class:`rag.types.Citation`."""
    return asdict(c)


def split_messages(messages: list[ChatMessage]) -> tuple[str, list[dict[str, str]]]:
    """The question (the last message, from the user) and the history before it."""
    if not messages or messages[-1].role != "user":
        raise InputError("the last message must be the user's question")
    history = [
        {"role": m.role, "content": m.text()}
        for m in messages[:-1]
        if m.role in ("user", "assistant")
    ]
    return messages[-1].text().strip(), history


class ChatService:
    """Answers API requests with ``ask`` (``rag.answer.ask_stream`` or a test's stand-in)."""

    def __init__(self, settings: Settings, ask: AskStream, policy: Policy, gate: Gate) -> None:
        self.settings = settings
        self.ask = ask
        self.policy = policy
        self.gate = gate

    def models(self) -> list[str]:
        """The model names a request may name: this server's first, then the catalog's."""
        from rag.models.catalog import BUILTIN_MODELS

        return list(dict.fromkeys([self.settings.model, *BUILTIN_MODELS]))

    def overrides(self, request: ChatRequest) -> dict[str, Any]:
        """Settings for this request: the server's, with the request's model and sampling."""
        given = self.settings.model_dump()
        if request.model and request.model not in ("", "default"):
            if request.model not in self.models():
                raise InputError(
                    f"unknown model {request.model!r}; GET /v1/models lists the ones served here"
                )
            given["model"] = request.model
        if request.temperature is not None:
            given["temperature"] = min(max(request.temperature, 0.0), 2.0)
        if request.max_tokens is not None:
            given["max_tokens"] = max(1, min(request.max_tokens, self.settings.max_tokens))
        return given

    def start(self, request: ChatRequest) -> tuple[Iterator[Any], list[Any]]:
        """Begin answering: the event stream and its events up to the passages (errors in the
        question, the index or the model surface here, before any byte is sent)."""
        question, history = split_messages(request.messages)
        events = self.ask(question, history=history, **self.overrides(request))
        first: list[Any] = []
        try:
            for event in events:
                first.append(event)
                if isinstance(event, Sources | Answer):
                    break
        except BaseException:
            _close(events)
            raise
        return events, first


def _envelope(kind: str, model: str, rid: str, created: int, **fields: Any) -> dict[str, Any]:
    return {"id": rid, "object": kind, "created": created, "model": model, **fields}


def completion(answer: Answer, model: str) -> dict[str, Any]:
    """The non-streamed response for ``answer``."""
    rid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    message = {"role": "assistant", "content": answer.text}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    usage = {"prompt_tokens": 0, "completion_tokens": answer.tokens, "total_tokens": answer.tokens}
    return _envelope(
        "chat.completion",
        model,
        rid,
        created,
        choices=[choice],
        usage=usage,
        citations=[citation_dict(c) for c in answer.citations],
        refused=answer.refused,
    )


def sse_chunks(events: Iterator[Any], first: list[Any], model: str) -> Iterator[str]:
    """The streamed response: a role chunk, a chunk per text piece, and a last chunk with the
    citations and the checked answer; then ``[DONE]``. An error after the start is sent as an
    ``error`` event (the OpenAI client raises it)."""
    rid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        body = _envelope("chat.completion.chunk", model, rid, created, choices=[choice], **extra)
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    shown = ""
    try:
        for event in itertools.chain(first, events):
            if isinstance(event, str) and event:
                shown += event
                yield chunk({"content": event})
            elif isinstance(event, Answer):
                if event.says_else_than(shown):  # a client cannot take back what it was sent
                    yield chunk({"content": f"\n\n{event.text}" if shown else event.text})
                cites = [citation_dict(c) for c in event.citations]
                yield chunk({}, "stop", citations=cites, answer=event.text, refused=event.refused)
    except RagError as exc:
        yield f"data: {json.dumps({'error': error_body(exc)['error']})}\n\n"
    finally:
        _close(events)
    yield "data: [DONE]\n\n"


def error_body(exc: RagError) -> dict[str, Any]:
    """The OpenAI-style error object for ``exc``."""
    kind = next(k for cls, _, k in _STATUS if isinstance(exc, cls))
    return {"error": {"message": first_line(exc), "type": kind, "code": None}}


def error_status(exc: RagError) -> int:
    """The HTTP status of ``exc``."""
    return next(status for cls, status, _ in _STATUS if isinstance(exc, cls))


def create_router(service: ChatService) -> APIRouter:
    """The ``/v1`` routes over ``service``."""
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.concurrency import run_in_threadpool

    router = APIRouter(prefix="/v1")

    def failed(exc: RagError) -> Response:
        return JSONResponse(error_body(exc), status_code=error_status(exc))

    def bearer(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        return header[7:].strip() if header.lower().startswith("bearer ") else None

    @router.get("/models")
    def list_models(request: Request) -> Response:
        try:
            service.policy.check_ask(bearer(request))
        except AccessError as exc:
            return failed(exc)
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "rag"} for m in service.models()
        ]
        return JSONResponse({"object": "list", "data": data})

    @router.post("/chat/completions")
    async def chat_completions(request: Request) -> Response:
        try:
            service.policy.check_ask(bearer(request))
            body = await _read_body(request, service.settings.max_request_kb)
            chat = _parse(body)
            service.gate.enter()
        except RagError as exc:
            return failed(exc)
        model = chat.model if chat.model and chat.model != "default" else service.settings.model
        try:
            events, first = await run_in_threadpool(service.start, chat)
        except RagError as exc:
            service.gate.leave()
            return failed(exc)
        except BaseException:
            service.gate.leave()
            raise
        if chat.stream:
            body = _Gated(sse_chunks(events, first, model), service.gate)
            return StreamingResponse(_until_gone(body), media_type="text/event-stream")
        try:
            answer = await run_in_threadpool(_last_answer, events, first)
        except RagError as exc:
            return failed(exc)
        finally:
            service.gate.leave()
        return JSONResponse(completion(answer, model))

    return router


async def _read_body(request: Request, max_kb: int) -> bytes:
    limit = max_kb * 1024
    too_big = InputError(f"the request is over {max_kb} KB (RAG_MAX_REQUEST_KB); send less")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_big
    body = b""
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise too_big
    return body


def _parse(body: bytes) -> ChatRequest:
    try:
        return ChatRequest.model_validate_json(body or b"{}")
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"]) or "body"
        raise InputError(
            f"the request is not a chat completion ({where}: {exc.errors()[0]['msg']}); "
            "send JSON with a messages list"
        ) from None


def _last_answer(events: Iterator[Any], first: list[Any]) -> Answer:
    try:
        for event in itertools.chain(first, events):
            if isinstance(event, Answer):
                return event
    finally:
        _close(events)
    raise RagError("the answer ended without a result; ask again")


class _Gated:
    """A response body that gives its place in the gate back once: when it ends, fails, is
    closed, or is dropped unread (a client gone before the first byte)."""

    def __init__(self, chunks: Iterator[str], gate: Gate) -> None:
        self._chunks = chunks
        self._leave = weakref.finalize(self, gate.leave)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        try:
            return next(self._chunks)
        except BaseException:
            self._leave()
            raise

    def close(self) -> None:
        """Stop the answer (the model stops writing) and free the place; idempotent."""
        try:
            _close(self._chunks)
        finally:
            self._leave()


async def _until_gone(body: _Gated) -> AsyncIterator[str]:
    """``body`` read step by step in worker threads, closed as soon as the client hangs up
    (the server cancels this generator; a running step finishes first)."""
    from starlette.concurrency import iterate_in_threadpool

    try:
        async for chunk in iterate_in_threadpool(body):
            yield chunk
    finally:
        body.close()


def _close(events: Iterator[Any]) -> None:
    close = getattr(events, "close", None)
    if close is not None:
        close()
