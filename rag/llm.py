"""Chat models behind one small interface: ``LLM.stream(messages, ...)`` yields text pieces.

* ``LlamaCppLLM`` runs a GGUF model in process with llama-cpp-python. One model serves one
  request at a time (a lock queues the others); llama.cpp keeps the KV cache of the previous
  prompt and re-evaluates only the tokens after the longest shared prefix, so prompts that start
  with the same system message answer sooner.
* ``OpenAILLM`` talks to any OpenAI-compatible ``/chat/completions`` endpoint (llama.cpp's
  server, vLLM, Ollama, ...) with streaming, using httpx.

``get_llm(settings)`` returns a shared, already loaded instance for the settings.
"""

from __future__ import annotations

import json
import math
import threading
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ModelError
from rag.types import Message

if TYPE_CHECKING:
    from rag.settings import Settings


# Qwen-style templates wrap each message in "<|im_start|>role\n ... <|im_end|>\n".
_MESSAGE_OVERHEAD = 5
_REPLY_OVERHEAD = 3
CHARS_PER_TOKEN = 3.5


class LLM:
    """A chat model. Subclasses implement ``stream`` and usually ``count_tokens``."""

    name: str = "llm"
    n_ctx: int | None = None  # context window in tokens, when known

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        """Yield the answer to ``messages`` (``{"role", "content"}`` dicts) piece by piece.

        Closing the iterator early stops generation. Errors raise ``ModelError``."""
        raise NotImplementedError

    def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: list[str] | None = None,
    ) -> str:
        """The whole answer as one string."""
        return "".join(
            self.stream(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)
        )

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` (an estimate unless the subclass has the tokenizer)."""
        return math.ceil(len(text) / CHARS_PER_TOKEN)

    def count_messages(self, messages: Sequence[Message]) -> int:
        """Approximate prompt tokens of a chat: contents plus the template's per-message tags."""
        return (
            sum(self.count_tokens(m.get("content", "")) + _MESSAGE_OVERHEAD for m in messages)
            + _REPLY_OVERHEAD
        )

    def close(self) -> None:
        """Release the model's resources (the object is unusable afterwards)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class LlamaCppLLM(LLM):
    """A GGUF model run in process by llama.cpp, using the chat template stored in the file."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_threads_batch: int | None = None,
        n_batch: int = 512,
        n_ubatch: int | None = None,
        seed: int = 0,
        warmup: bool = True,
    ) -> None:
        """Load ``model_path``. ``n_threads_batch`` defaults to ``n_threads``, which defaults
        to every core (llama-cpp-python would use half for generation). ``warmup`` runs one
        token through the model so the first real answer does not pay llama.cpp's one-off
        first-decode cost (seconds on a small CPU)."""
        import os

        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise ModelError(
                "llama-cpp-python is not installed; run `make setup` or use RAG_BACKEND=openai"
            ) from exc

        path = Path(model_path)
        threads = n_threads or os.cpu_count() or 1
        try:
            self._llama = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_batch=n_batch,
                n_ubatch=n_ubatch or n_batch,
                n_threads=threads,
                n_threads_batch=n_threads_batch or threads,
                seed=seed,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(
                f"llama.cpp could not load {path} ({str(exc).strip()[:120]}); check that it is "
                "a complete GGUF chat model"
            ) from exc
        if warmup:
            try:
                self._llama.eval([max(self._llama.token_bos(), 0)])
            except RuntimeError as exc:
                raise ModelError(f"llama.cpp cannot run {path}: {exc}") from exc
            finally:
                self._llama.reset()
        self.path = path
        self.name = path.stem
        self.n_ctx = self._llama.n_ctx()
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._closed = False
        _register_for_exit(self)

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        """Stream the answer; callers from other threads wait until this one finishes or is
        closed. Starting a second stream in the thread that is still consuming one raises."""
        if self._owner == threading.get_ident():
            raise ModelError(
                "this thread is still reading an unfinished answer; close it before asking again"
            )
        with self._lock:
            if self._closed:
                raise ModelError(f"model {self.name} was closed; get a new one with get_llm()")
            self._owner = threading.get_ident()
            chunks: Any = None
            try:
                chunks = self._llama.create_chat_completion(
                    messages=messages,  # type: ignore[arg-type]
                    max_tokens=max_tokens,
                    temperature=temperature,
                    stop=list(stop) if stop else None,
                    stream=True,
                )
                for chunk in chunks:
                    choices = chunk.get("choices") or [{}]
                    text = (choices[0].get("delta") or {}).get("content")
                    if text:
                        yield text
            except (ValueError, RuntimeError) as exc:
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                if "exceed context window" in message:
                    raise ModelError(
                        f"the prompt is longer than the model's context window ({message}); "
                        "lower RAG_CONTEXT_TOKENS or raise RAG_N_CTX"
                    ) from exc
                raise ModelError(f"llama.cpp failed while answering: {message[:160]}") from exc
            finally:
                if chunks is not None:
                    chunks.close()  # stops llama.cpp at the next token
                self._owner = None

    def count_tokens(self, text: str) -> int:
        """Exact token count with the model's tokenizer (no BOS, special tokens as text)."""
        if not text:
            return 0
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def close(self) -> None:
        """Free the model and its context (waits for a running answer to end)."""
        self._close(timeout=-1)

    def _close(self, timeout: float) -> None:
        if not self._lock.acquire(timeout=timeout):
            return  # still answering in another thread: freeing now would crash llama.cpp
        try:
            if not self._closed:
                self._closed = True
                self._llama.close()
        finally:
            self._lock.release()


_LIVE: weakref.WeakSet[LlamaCppLLM] = weakref.WeakSet()
_EXIT_HOOK = False


def _register_for_exit(llm: LlamaCppLLM) -> None:
    """Free models before interpreter shutdown: ``Llama.__del__`` at teardown finds llama.cpp's
    functions already gone and prints a TypeError traceback."""
    global _EXIT_HOOK
    _LIVE.add(llm)
    if not _EXIT_HOOK:
        import atexit

        atexit.register(_close_all_at_exit)
        _EXIT_HOOK = True


def _close_all_at_exit() -> None:
    for llm in list(_LIVE):
        llm._close(timeout=1.0)


class OpenAILLM(LLM):
    """A model behind an OpenAI-compatible API (``POST {base_url}/chat/completions``)."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str = "default",
        api_key: str = "none",
        timeout: float = 300.0,
        connect_timeout: float = 5.0,
    ) -> None:
        """``base_url`` includes the version prefix, e.g. ``http://127.0.0.1:8000/v1``;
        ``timeout`` bounds each wait for data (a long prompt on a CPU can take a while)."""
        import httpx

        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"{model}@{self.base_url}"
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            headers={"Authorization": f"Bearer {api_key}"},
        )
        self._tokenizer_url: str | None | bool = None  # None: not probed yet, False: none found

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        """Stream the answer from the server (server-sent events)."""
        import httpx

        url = f"{self.base_url}/chat/completions"
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
        }
        if stop:
            payload["stop"] = list(stop)
        try:
            with self._client.stream("POST", url, json=payload) as response:
                if response.status_code >= 400:
                    body = response.read().decode("utf-8", "replace")
                    raise ModelError(
                        f"remote model at {url} answered HTTP {response.status_code}"
                        f"{_error_detail(body)}; check RAG_OPENAI_BASE_URL and RAG_OPENAI_MODEL"
                    )
                for data in _sse_events(response.iter_lines()):
                    if data.strip() == "[DONE]":
                        return
                    text = _delta_text(data, url)
                    if text:
                        yield text
        except httpx.TimeoutException as exc:
            raise ModelError(
                f"remote model at {url} timed out ({type(exc).__name__}); check that the server "
                "is not overloaded, or use a smaller model"
            ) from exc
        except httpx.HTTPError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(
                f"cannot reach the remote model at {url} ({reason[:120]}); "
                "check that the server runs and RAG_OPENAI_BASE_URL"
            ) from exc

    def count_tokens(self, text: str) -> int:
        """Exact count from the server's tokenizer endpoint when it has one (llama.cpp's
        servers do), else ``len(text) / 3.5``."""
        if not text:
            return 0
        if self._tokenizer_url is None:
            self._tokenizer_url = self._probe_tokenizer()
        if isinstance(self._tokenizer_url, str):
            count = self._remote_count(self._tokenizer_url, text)
            if count is not None:
                return count
        return super().count_tokens(text)

    def _probe_tokenizer(self) -> str | bool:
        root = self.base_url.removesuffix("/v1")
        for url in (f"{root}/extras/tokenize/count", f"{root}/tokenize"):
            if self._remote_count(url, "probe") is not None:
                return url
        return False

    def _remote_count(self, url: str, text: str) -> int | None:
        import httpx

        body: dict[str, str] = {"model": self.model}
        if url.endswith("/count"):
            body["input"] = text
        else:  # llama.cpp's llama-server reads "content", vLLM "prompt"
            body.update(content=text, prompt=text)
        try:
            response = self._client.post(url, json=body, timeout=10.0)
            if response.status_code != 200:
                return None
            data = response.json()
        except (httpx.HTTPError, ValueError):
            return None
        if isinstance(data.get("count"), int):
            return int(data["count"])
        if isinstance(data.get("tokens"), list):
            return len(data["tokens"])
        return None

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()


def _sse_events(lines: Iterator[str]) -> Iterator[str]:
    """The ``data`` payloads of a server-sent-events stream (multi-line data joined by \\n)."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def _delta_text(data: str, url: str) -> str | None:
    try:
        event = json.loads(data)
    except ValueError as exc:
        raise ModelError(f"remote model at {url} sent a malformed event: {data[:80]!r}") from exc
    if not isinstance(event, dict):
        return None
    if event.get("error"):
        raise ModelError(f"remote model at {url} failed{_error_detail(json.dumps(event))}")
    choices = event.get("choices") or [{}]
    delta = choices[0].get("delta") or {}
    return delta.get("content")


def _error_detail(body: str) -> str:
    try:
        obj = json.loads(body)
        err = obj.get("error", obj.get("detail", obj)) if isinstance(obj, dict) else obj
        text = err.get("message", err) if isinstance(err, dict) else err
        text = str(text)
    except ValueError:
        text = body
    text = " ".join(text.split())
    return f": {text[:160]}" if text else ""


_CACHE: dict[tuple[Any, ...], LLM] = {}
_CACHE_LOCK = threading.Lock()


def get_llm(settings: Settings) -> LLM:
    """The shared model for ``settings``, loaded on first use (thread-safe).

    Built-in models are assembled and verified first (see ``rag.models.resolve_model``)."""
    with _CACHE_LOCK:
        if settings.backend == "openai":
            key: tuple[Any, ...] = (
                "openai",
                settings.openai_base_url.rstrip("/"),
                settings.openai_model,
                settings.openai_api_key,
            )
        else:
            from rag.models import resolve_model

            path = resolve_model(settings).resolve()
            key = ("llama", str(path), settings.n_ctx, settings.n_threads, settings.n_batch)
        llm = _CACHE.get(key)
        if llm is None:
            if key[0] == "openai":
                llm = OpenAILLM(
                    settings.openai_base_url,
                    model=settings.openai_model,
                    api_key=settings.openai_api_key,
                )
            else:
                llm = LlamaCppLLM(
                    path,
                    n_ctx=settings.n_ctx,
                    n_threads=settings.n_threads,
                    n_batch=settings.n_batch,
                )
            _CACHE[key] = llm
        return llm


def clear_llm_cache() -> None:
    """Close and forget every model ``get_llm`` loaded."""
    with _CACHE_LOCK:
        for llm in _CACHE.values():
            llm.close()
        _CACHE.clear()
