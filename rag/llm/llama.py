"""A GGUF model run in process by llama-cpp-python.

One model serves one request at a time (a lock queues the others); llama.cpp keeps the KV
cache of the previous prompt and re-evaluates only the tokens after the longest shared prefix,
so prompts that start with the same system message answer sooner. Answers from stored passage
states run on the same weights under the same lock (``rag.llm.llama_states``).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ModelError, first_line
from rag.llm.base import LLM, Sampling
from rag.types import Message

if TYPE_CHECKING:
    from llama_cpp import Llama

    from rag.llm.hidden import HiddenCapture, Reading


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
        capture: bool = True,
    ) -> None:
        """Load ``model_path``. ``n_threads_batch`` defaults to ``n_threads``, which defaults
        to every core (llama-cpp-python would use half for generation). ``warmup`` runs one
        token through the model so the first real answer does not pay llama.cpp's one-off
        first-decode cost (seconds on a small CPU). ``capture`` false: no eval callback, so
        no hidden state is read (:meth:`reading` is ``None``; benchmarks compare)."""
        import os

        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise ModelError(
                "llama-cpp-python is not installed; run `make setup` or use RAG_BACKEND=openai"
            ) from exc

        from rag.llm.hidden import HiddenCapture

        path = Path(model_path)
        threads = n_threads or os.cpu_count() or 1
        try:
            avoid_amx_crash()
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
        self.capture: HiddenCapture = HiddenCapture(enabled=capture)
        self._read_next = False
        self._full_reading: Reading | None = None  # the last prompt read on the full path
        _capture_context(self._llama, self.capture, self._armed_eval(self._llama.eval))
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
        self.same_thread_wait = 30.0
        self._closed = False
        _register_for_exit(self)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` freed the model."""
        return self._closed

    @contextmanager
    def hold(self) -> Iterator[Llama]:
        """Hold the model for one answer (or one stored state) and yield llama-cpp-python's
        ``Llama``: callers wait until it is released. A server's worker threads step through
        answers in turns, so the thread that last stepped an unfinished answer may ask for the
        model again while another thread finishes that answer: that caller waits too, but only
        :attr:`same_thread_wait` seconds, after which it is taken for one thread reading two
        answers at once (which would wait for ever) and refused. A closed model raises."""
        if self._owner == threading.get_ident():
            if not self._lock.acquire(timeout=self.same_thread_wait):
                raise ModelError(
                    "this thread is still reading an unfinished answer; close it before asking "
                    "again"
                )
            self._lock.release()
        with self._lock:
            if self._closed:
                raise ModelError(f"model {self.name} was closed; get a new one with get_llm()")
            self._owner = threading.get_ident()
            try:
                yield self._llama
            finally:
                self._owner = None

    def read_hidden(self, names: Sequence[str]) -> bool:
        """Capture ``names`` of every prompt's reading too (``False`` when built without); the
        tensors asked for earlier (by the refusal gate, the sentence screen) stay wanted."""
        self.capture.want(self.capture.wanted | set(names))
        return self.capture.enabled

    def first_token(self, text: str) -> int:
        """The id of ``text``'s first token (special tokens as text)."""
        tokens = self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        return int(tokens[0]) if tokens else -1

    def reading(self) -> Reading | None:
        """What the model held after reading the last prompt (full or from stored states):
        the last prompt token's captured tensors (``self.capture.want``)."""
        return self.capture.reading()

    def _armed_eval(self, evaluate: Any) -> Any:
        """``Llama.eval`` that captures during the first call after :meth:`_stream` starts:
        the prompt's reading (generation's one-token decodes are not captured)."""

        def armed_eval(tokens: Any) -> None:
            if not self._read_next:
                return evaluate(tokens)
            self._read_next = False
            if not tokens:  # the whole prompt was in the context already: its reading holds
                self.capture.restore(self._full_reading)
                return evaluate(tokens)
            with self.capture.armed():
                evaluate(tokens)
            self._full_reading = self.capture.reading()

        return armed_eval

    def _stream(self, messages: list[Message], sampling: Sampling) -> Iterator[str]:
        """Stream the answer; callers from other threads wait until this one finishes or is
        closed. Starting a second stream in the thread that is still consuming one raises."""
        with self.hold() as llama:
            chunks: Any = None
            self._read_next = True
            try:
                chunks = llama.create_chat_completion(
                    messages=messages,  # type: ignore[arg-type]
                    max_tokens=sampling.max_tokens,
                    temperature=sampling.temperature,
                    stop=list(sampling.stop) or None,
                    stream=True,
                )
                for chunk in chunks:
                    choices = chunk.get("choices") or [{}]
                    text = (choices[0].get("delta") or {}).get("content")
                    if text:
                        yield text
            except (ValueError, RuntimeError) as exc:
                message = first_line(exc) or repr(exc)
                if "exceed context window" in message:
                    raise ModelError(
                        f"the prompt is longer than the model's context window ({message}); "
                        "lower RAG_CONTEXT_TOKENS or raise RAG_N_CTX"
                    ) from exc
                raise ModelError(f"llama.cpp failed while answering: {message[:160]}") from exc
            finally:
                if chunks is not None:
                    chunks.close()  # stops llama.cpp at the next token

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


def avoid_amx_crash() -> None:
    """Load models with llama.cpp's extra weight buffers off where it was built with AMX: its
    AMX matrix multiply crashes (SIGSEGV in ``ggml_backend_amx_mul_mat``) on any batch of more
    than one token in llama-cpp-python 0.3.36 (seen on a Xeon with AMX-INT8, where pip's
    build is native). Elsewhere the defaults (the CPU repacked layout) are kept. Applies to
    every ``Llama`` made in this process (``llama_cpp.server`` too); idempotent."""
    import llama_cpp.llama_cpp as lc

    default = lc.llama_model_default_params
    if getattr(default, "_rag_no_amx", False) or b"AMX_INT8 = 1" not in (
        lc.llama_print_system_info()
    ):
        return

    def without_extra_buffers() -> Any:
        params = default()
        params.use_extra_bufts = False
        return params

    without_extra_buffers._rag_no_amx = True  # type: ignore[attr-defined]
    lc.llama_model_default_params = without_extra_buffers


def _capture_context(llama: Llama, capture: HiddenCapture, evaluate: Any) -> None:
    """Give ``llama`` a context whose eval callback is ``capture`` (llama-cpp-python builds
    its own without one) and ``evaluate`` as its ``eval``."""
    import contextlib

    from llama_cpp import _internals

    llama.eval = evaluate  # type: ignore[method-assign]
    if not capture.enabled:
        return
    params = llama.context_params
    capture.attach(params)
    llama._ctx.close()  # freed before the new one is made: one KV cache at a time
    llama._ctx = llama._stack.enter_context(
        contextlib.closing(
            _internals.LlamaContext(model=llama._model, params=params, verbose=False)
        )
    )


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
